"""pydantic.AliasChoices (pydantic 2) for Debian's pydantic 1: W&B's
sweeps library names it in Field(validation_alias=...) of SweepRun, whose
aliases the conformance cases never use. Imported before the library."""
import pydantic

if not hasattr(pydantic, "AliasChoices"):
    def AliasChoices(*names):  # noqa: N802 - pydantic's name
        return names[0]

    pydantic.AliasChoices = AliasChoices
