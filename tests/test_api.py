"""The public API: every analysis is wb.<name>, every figure builder wb.figures.<name>."""

import inspect

import pytest

import workbench as wb
from workbench import analyses, figures


@pytest.mark.parametrize("name", sorted(analyses.EXPORTS))
def test_every_analysis_is_reachable_from_the_package(name):
    import importlib

    defined = getattr(importlib.import_module(f"workbench.analyses.{analyses.EXPORTS[name]}"), name)
    assert getattr(wb, name) is defined
    assert callable(getattr(wb, name))


@pytest.mark.parametrize("name", sorted(figures.EXPORTS))
def test_every_figure_builder_takes_a_result_and_lang(name):
    builder = getattr(wb.figures, name)
    params = inspect.signature(builder).parameters
    assert "lang" in params and params["lang"].kind is inspect.Parameter.KEYWORD_ONLY


def test_public_analyses_take_keyword_only_parameters_after_the_store():
    for name in ("cohort_retention", "repurchase_cycle", "churn_survival", "campaign_lift", "wake_up_list"):
        params = list(inspect.signature(getattr(wb, name)).parameters.values())
        positional = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert positional[0] == "db", name
        assert all(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[len(positional) :])


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError):
        wb.cohort_retentoin  # noqa: B018
