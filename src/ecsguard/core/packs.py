"""Policy ids and packs: the names a deployment selects policies by.

Apart from ``policy.py`` so that settings, read at every cold start, can check a pack name without building the
policy language's models.
"""

from __future__ import annotations

import re

POLICY_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")  # also the shape of a pack's name
# The built-in catalog's packs (a folder of one's own may have none of them, or packs of its own), the packs a
# deployment loads unless told otherwise, and the word that selects every pack.
BUILT_IN_PACKS = ("mission", "fsbp", "control-tower", "hardening", "tagging")
DEFAULT_PACKS = ("mission", "fsbp")
EVERY_PACK = "all"
