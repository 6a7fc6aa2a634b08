"""Go's behaviour, byte for byte, where Docker's output depends on it.

``duration`` (``time.ParseDuration`` / ``Duration.String``), ``strconv`` (``Quote``,
``Atoi``), ``timefmt`` (RFC3339Nano and the layouts ``docker events --since`` accepts),
``jsonenc`` (``encoding/json``'s escaping), ``json`` (what ``json.Unmarshal`` accepts, and
its depth limit, without recursion), ``shellwords`` (compose's command splitting).

May import: the standard library only. Pure: no clock, no I/O.
"""
