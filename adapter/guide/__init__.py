"""The implementation guide for vendors: a static site generated from the data the adapter runs on
(profiles/, mappings/, the step table, the LUS rules, the example messages). `lus-adapter guide
build OUT` writes it; the adapter serves it at /guide."""

from adapter.guide.site import build_site, write_site
from adapter.guide.sources import Sources

__all__ = ["Sources", "build_site", "write_site"]
