"""Fleet mode (issue 11): many agents, one view, on the PostgreSQL database they share.

``nodestore``: one agent's history and services' state, in a schema of its own;
``publish``: what the agent hands it; ``view``: the fleet read by any agent (services, nodes'
liveness, inspect); ``listen``: fleet events fanned out with LISTEN/NOTIFY.
"""
