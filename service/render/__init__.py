"""Recommendations + the card catalogue (cards/) -> CDS Hooks cards."""

from service.render.cards import EXTENSION, Renderer
from service.render.catalogue import Catalogue, CatalogueError, load_catalogue
from service.render.suggestions import build_suggestion

__all__ = ["EXTENSION", "Catalogue", "CatalogueError", "Renderer", "build_suggestion",
           "load_catalogue"]
