"""Template globals keep Jinja's meaning (the template's own over the environment's, changes to
the environment's still seen) while their names are a set (webui._Globals)."""

from __future__ import annotations

from jinja2 import DictLoader

from webui import create_app


def _env():  # type: ignore[no-untyped-def]
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})
    env = app.jinja_env.overlay(loader=DictLoader({
        "macros.html": "{% macro who() %}{{ council }}{% endmacro %}",
        "page.html": '{% import "macros.html" as m with context %}{{ m.who() }} {{ motto }}',
    }))
    return app, env


def test_an_imported_template_sees_the_environment_globals_and_the_templates_own() -> None:
    app, env = _env()
    env.globals["council"] = "Northshire"
    page = env.get_template("page.html", globals={"motto": "Safe at home"})
    with app.test_request_context():
        assert page.render() == "Northshire Safe at home"
        env.globals["council"] = "Southshire"  # a change to the environment is still seen
        assert page.render() == "Southshire Safe at home"


def test_the_global_names_are_a_set_of_every_map() -> None:
    app, env = _env()
    env.globals["council"] = "Northshire"
    names = env.get_template("page.html", globals={"motto": "x"}).globals.keys()
    assert isinstance(names, set)
    assert {"council", "motto", "url_for", "csrf_token"} <= names
    assert names == set(env.globals) | {"motto"}
