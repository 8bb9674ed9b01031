"""caseflowctl's commands, one module each.

A command module has `add(commands, common)`: it adds its parser (or parsers) to the
sub-command set, with `common` as a parent for the shared options, and sets the
coroutine that runs it with `parser.set_defaults(run=...)`; the coroutine takes the
parsed arguments and the output stream and returns the exit status. A new command
is a new module here and one line in `MODULES`.
"""

from __future__ import annotations

from . import breaches, dlq, doctor, export, lag, policies, status, token, topics, whatif

MODULES = (status, doctor, lag, breaches, topics, dlq, token, export, whatif, policies)
