"""The runtime HTTP server (`wdk serve`): the flow, step, webhook and stream
handlers of DESIGN 2.2 and a small JSON API for clients in other processes.

    from wdk.server.app import create_app, start_server
"""
