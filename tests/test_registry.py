import pytest

from pruningbench.errors import UserError
from pruningbench.registry import Registry


def test_register_and_get_by_name():
    registry: Registry = Registry("widget")

    @registry.register("Gear")
    class Gear:
        pass

    assert registry.get("Gear") is Gear
    assert registry.names() == ["Gear"]
    assert "Gear" in registry


def test_unknown_name_lists_available():
    registry: Registry = Registry("widget")
    registry.register("Gear")(object)
    with pytest.raises(UserError, match="unknown widget 'Cog'; available: Gear"):
        registry.get("Cog")


def test_duplicate_registration_is_refused():
    registry: Registry = Registry("widget")
    registry.register("Gear")(object)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("Gear")(object)
