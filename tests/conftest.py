"""Shared by every test directory. Its only job: being here puts tests/ on sys.path (pytest's default "prepend"
import mode adds a conftest's folder when it is not a package), so unit and functional tests import the
shared helper ``policy_catalog`` (the catalog under test) by name."""
