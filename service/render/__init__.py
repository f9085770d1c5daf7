"""Recommendations + the card catalogue (cards/) -> CDS Hooks cards."""

from service.render.cards import EXTENSION, Renderer, build_suggestion
from service.render.catalogue import Catalogue, CatalogueError, load_catalogue

__all__ = ["EXTENSION", "Catalogue", "CatalogueError", "Renderer", "build_suggestion",
           "load_catalogue"]
