"""The Faust application and its agents: thin code that moves records between topics."""

from wardwatch.agents.app import create_app

__all__ = ["create_app"]
