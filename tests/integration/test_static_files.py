"""The console and the widget are files the app serves: each page with its CSP, nothing outside static/."""
import pytest

from chalicelib.api import static


def test_the_console_page_carries_a_strict_content_security_policy(desk):
    response = desk.http.get("/console")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"  # no inline, no eval
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe" not in policy and "*" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_served_file_is_read_from_static_and_revalidated_by_etag(desk):
    names = [name for name in static._assets() if name.startswith("console/")]
    assert "console/index.html" in names and len(names) > 1
    for name in names:
        path = "/console" if name == "console/index.html" else "/" + name
        first = desk.http.get(path)
        assert first.status_code == 200, name
        again = desk.http.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and not again.body, name


@pytest.mark.parametrize("name", ["..%2F..%2Fapp.py", "missing.js", "index.html.bak", "%2e%2e"])
def test_names_outside_the_console_folder_are_404_with_a_reason(desk, name):
    response = desk.http.get(f"/console/{name}")
    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"


def test_the_widget_script_may_be_embedded_by_any_site(desk):
    response = desk.http.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
