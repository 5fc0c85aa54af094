"""`python -m wdk`: the same as the `wdk` command."""

from wdk.cli.main import run

if __name__ == "__main__":
    run()
