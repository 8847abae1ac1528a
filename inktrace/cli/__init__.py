"""Command-line entry points (``inktrace`` and the root scripts) on top of the package API.

A module that implements one subcommand is named after it (``trace.py`` is ``inktrace trace``,
``plot.py`` ``inktrace plot``, ``preview.py`` ``inktrace preview-data``), beside the library module
of the same concept it calls; every other module here has a name of its own."""
