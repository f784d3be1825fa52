"""A newcomer's first proof: the demo RP signs a user in through Portcullis in a browser."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from clients import services
from tests.factories import PASSWORD, UserFactory
from tests.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_rp(live_issuer, tmp_path):
    port = free_port()
    client, secret = services.client_create(
        name="Demo RP",
        redirect_uris=[f"http://127.0.0.1:{port}/callback"],
        scopes=["openid", "profile", "email"],
        grant_types=["authorization_code"],
        id_token_signed_response_alg="ES256",
    )
    (tmp_path / "demo_rp.json").write_text(json.dumps({
        "client_id": client.client_id, "client_secret": secret, "issuer": live_issuer,
        "redirect_uri": f"http://127.0.0.1:{port}/callback",
    }))  # fmt: skip
    env = {**os.environ, "IDP_DATA_DIR": str(tmp_path), "DEMO_RP_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "examples/demo_rp/app.py"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)  # waiting for another process to listen
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_demo_rp_signs_in_with_portcullis(demo_rp, page, tmp_path):
    UserFactory(email="grace@example.test")

    page.goto(demo_rp)
    page.get_by_role("link", name="Sign in with Portcullis").click()
    page.get_by_label("Email address").fill("grace@example.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(f"{demo_rp}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Signed in as grace@example.test"
    claims = json.loads(page.get_by_test_id("claims").inner_text())
    userinfo = json.loads(page.get_by_test_id("userinfo").inner_text())
    assert claims["sub"] == userinfo["sub"]
    assert claims["amr"] == ["pwd"]
    page.screenshot(path=tmp_path / "demo-signed-in.png", full_page=True)
