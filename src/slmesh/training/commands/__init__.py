"""The subcommands of `python -m slmesh.training`, one module each; each module's `register` adds its parser."""
