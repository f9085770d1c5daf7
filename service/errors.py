"""The errors that stop start-up, in one leaf module every layer may import.

`leukemia-cds serve` turns any `StartupError` into one line on stderr and exit status 2, before a
worker is forked: the hospital engineer sees the cause, not a traceback. The layers that find
such problems (settings, card catalogue, terminology, audit store) sit far below the CLI, so the
classes live here, importing nothing of the service, rather than in `service.cli`: importing
the CLI for its error class tied the catalogue to the whole application in one import cycle.

Each kind is still importable from the module that raises it (`service.config.ConfigError`,
`service.render.catalogue.CatalogueError`, `service.fhir.terminology.TerminologyError`,
`service.store.StoreError`). Each keeps the built-in base it had before it joined this
hierarchy, so an `except ValueError` or `except RuntimeError` somewhere still catches what it
caught.
"""

from __future__ import annotations


class StartupError(Exception):
    """A problem that stops start-up; the message is one line for the operator."""


class ConfigError(StartupError, ValueError):
    """An invalid setting; the message is one line that names the variable."""


class CatalogueError(StartupError):
    """The card catalogue cannot be used; the message is one line naming the file and entry."""


class TerminologyError(StartupError, ValueError):
    """fhir_profiles/ cannot be loaded; the message names the file and the problem."""


class StoreError(StartupError, RuntimeError):
    """The audit store cannot be opened; the message is safe to show an operator."""
