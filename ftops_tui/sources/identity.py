"""Who is at the keyboard: the `actor` recorded in the audit log and sent to the relay."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Mapping


def actor_identity(env: Mapping[str, str] = os.environ) -> str:
    """`user@host`, plus ` via <ip>` when the session came in over SSH.

    The user is the process's real uid (what the OS says, not what $USER claims); $USER
    only stands in when the uid has no passwd entry, as in some containers.
    """
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = env.get("USER") or env.get("LOGNAME") or str(os.getuid())
    actor = f"{user}@{socket.gethostname() or 'localhost'}"
    # SSH_CLIENT is "ip port port", SSH_CONNECTION "ip port ip port": the client is first.
    for var in ("SSH_CLIENT", "SSH_CONNECTION"):
        fields = env.get(var, "").split()
        if fields:
            return f"{actor} via {fields[0]}"
    return actor
