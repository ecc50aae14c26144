"""Sub-commands of the ``painmrs`` command line, one module each.

A module here defines ``NAME`` (the sub-command), ``HELP`` (one line), ``configure(parser)``
(adds its arguments) and ``run(args) -> int``. ``painmrs.cli`` discovers them, so adding a
command needs no edit elsewhere.
"""
