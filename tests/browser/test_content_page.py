"""An editor publishes a drafted entry from a cluster, and the next question of that cluster is answered
from it in the real widget (issue #12, content-gap loop)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import FAQ, ROOT, chromium, console_sign_in, make_settings, missed, real_server

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "images"


@pytest.fixture()
def desk(tmp_path: Path, data_dir: Path, embedders: list) -> Iterator[tuple[Any, str, Path]]:
    from bot.services import build_services
    from bot.web.app import create_app

    faq = tmp_path / "faq"
    shutil.copytree(FAQ, faq)
    settings = make_settings(
        data_dir,
        faq_dir=faq,
        console_accounts={"erin": "erin-pass-123", "alice": "alice-pass-123"},
        console_roles={"erin": "editor"},
    )
    svc = build_services(settings, embedders=embedders)
    try:
        with real_server(create_app(svc.settings, svc)) as (host, port):
            yield svc, f"http://{host}:{port}", faq
    finally:
        svc.close()


def test_an_editor_publishes_a_drafted_entry_and_the_next_question_is_answered(desk: Any) -> None:
    svc, base, faq = desk
    with httpx.Client(base_url=base, timeout=60) as api:
        missed(api, svc)  # four customers asked for a mobile app; an agent answered each
    with chromium() as browser:
        page: Any = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        console_sign_in(page, base, "erin", "erin-pass-123")
        page.locator("#content-link").click()
        group = page.locator("[data-cluster]").first
        expect(group).to_contain_text("4 questions")
        group.click()
        expect(page.locator("#questions tbody tr")).to_have_count(4)
        expect(page.locator("#resolutions")).to_contain_text("App Store")
        expect(page.locator("#resolutions")).not_to_contain_text("13812345678")  # redacted
        answer = page.locator("#f-answer")
        assert answer.input_value().startswith("Yes: the Ledgerly app is in the App Store")
        assert "zhang.wei@example.com" not in answer.input_value()
        expect(page.locator("#f-answer-preview")).to_contain_text("Google Play")
        page.locator("#f-id").fill("mobile-app")
        page.locator("#f-title").fill("Is there a mobile app for iPhone and Android?")  # the editor edits
        page.locator("#preview").click()
        expect(page.locator("#preview-summary")).to_contain_text(re.compile(r"with the entry [34]/4"), timeout=60_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "content-gaps.png"), full_page=True)
        assert not (faq / "en" / "mobile-app.md").exists()
        page.locator("#publish").click()
        expect(page.locator("#result")).to_contain_text("Published faq/en/mobile-app.md", timeout=60_000)
        expect(page.locator("#result")).to_contain_text(re.compile(r"[01]/4 answered before, [34]/4 after"))
        expect(page.locator("#publications")).to_contain_text("mobile-app")
        page.locator("#lang-switch").select_option("zh")  # the editors' page in Chinese, edits kept
        expect(page.locator("h1")).to_have_text("内容缺口")
        expect(page.locator("#publications")).to_contain_text(re.compile(r"覆盖 [01]/4 → [34]/4"))
        expect(page.locator("#f-id")).to_have_value("mobile-app")
        assert (faq / "en" / "mobile-app.md").read_text(encoding="utf-8").startswith("---\nid: mobile-app\n")

        # a new customer, in the real widget, asks the same thing another way
        widget: Any = browser.new_page()
        widget.on("pageerror", lambda e: errors.append(str(e)))
        widget.goto(f"{base}/")
        launcher = widget.locator('[data-part="launcher"]')
        if launcher.get_attribute("aria-expanded") != "true":
            launcher.click()
        widget.locator('[data-part="input"]').fill("Is there an app for my iPhone?")
        widget.locator('[data-part="input"]').press("Enter")
        expect(widget.locator(".row.bot[data-id]")).to_have_count(1, timeout=30_000)
        reply = widget.locator(".row.bot[data-id]").last
        expect(reply.locator('[data-part="source"]')).to_contain_text("Is there a mobile app for iPhone and Android?")
        expect(reply).to_contain_text("App Store")
        assert errors == []
