"""The runtime HTTP server (`wdk serve`): the flow, step, webhook and stream
handlers (`wdk.protocol` lists their routes) and a small JSON API for clients in other processes.

    from wdk.server.app import create_app, start_server
"""
