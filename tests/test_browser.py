"""The browser demo in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Chromium's fake media flags play a generated WAV file as the microphone, so the page's real
AudioWorklet capture, resampling and websocket streaming run against a real server (port 0,
tiny models, temporary database). Screenshots go to test-artifacts/ (gitignored).

`ASSISTANT_DEMO_SCREENSHOT=docs/demo.png` runs one more test that remakes the README's picture
with the shipped models (or ASSISTANT_DEMO_SPEECH_MODEL / ASSISTANT_DEMO_DIALOGUE_MODEL) and a
question spoken by espeak-ng.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from test_terminal import client_test_models, serve

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 20000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")


def microphone_wav(path: Path, sample_rate: int = 48000) -> Path:
    """What the fake microphone plays, looped: silence, 1.4 s of voiced 'syllables', 1.5 s of silence."""
    rng = np.random.default_rng(1)
    lead, talk, tail = 0.6, 1.4, 1.5
    t = np.arange(int((lead + talk + tail) * sample_rate)) / sample_rate
    pitch = 150 + 40 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 14))
    syllables = np.clip(np.sin(2 * np.pi * 3.5 * (t - lead)), 0.15, None) ** 0.5
    speaking = (t >= lead) & (t < lead + talk)
    audio = 0.3 * voiced * syllables * speaking + 0.002 * rng.standard_normal(t.size)
    sf.write(path, audio.astype(np.float32), sample_rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def models(request):
    return client_test_models(request)  # see there: untrained recognizer, trained responder if any


@pytest.fixture(scope="module")
def demo_server(models, tmp_path_factory):
    with serve(models, tmp_path_factory.mktemp("web") / "demo.db") as srv:
        yield srv


CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream",
]


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory):
    """Chromium whose microphone plays the generated WAV (looped) and that grants the microphone."""
    wav = microphone_wav(tmp_path_factory.mktemp("mic") / "mic.wav")
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"],
    )
    yield browser
    browser.close()


@pytest.fixture
def allowed_console() -> list[str]:
    """Texts of console errors a test expects (append to it)."""
    return ["ERR_CONNECTION_REFUSED", "WebSocket connection to"]


@pytest.fixture
def page(browser, request, allowed_console):
    context = browser.new_context(viewport={"width": 1180, "height": 760})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # Chromium logs failed connections as console errors: while a test has stopped the server the
    # reconnect attempts are expected; any other console error or page error fails the test.
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error"
            and not any(text in msg.text for text in allowed_console) else None)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
    assert not problems, "\n".join(problems)


def open_demo(page, server, query: str = "") -> None:
    page.goto(f"{server.http_url}/{query}")
    page.wait_for_selector("#connection[data-state=online]", timeout=TIMEOUT_MS)


def wait_reply_done(page, count: int = 1) -> list[str]:
    page.wait_for_function(
        f"document.querySelectorAll('.message.assistant:not(.streaming):not(.earlier)').length >= {count}",
        timeout=TIMEOUT_MS)
    return page.locator(".message.assistant:not(.earlier) .text").all_inner_texts()


@pytest.mark.slow
def test_hands_free_voice_turn(page, demo_server):
    open_demo(page, demo_server)
    page.click("#mic")
    page.wait_for_selector("#mic[aria-pressed=true]", timeout=TIMEOUT_MS)  # after getUserMedia
    # the live partial transcript (stable prefix and tentative rest in separate spans)
    page.wait_for_function(
        "!document.getElementById('partial').hidden && "
        "(document.getElementById('partial-stable').textContent + "
        " document.getElementById('partial-tentative').textContent).length > 0",
        timeout=TIMEOUT_MS)
    # the final transcript becomes the user's message, then the reply streams in
    page.wait_for_selector(".message.user", timeout=TIMEOUT_MS)
    replies = wait_reply_done(page)
    assert replies[0].strip(), "the streamed reply is empty"
    seen = page.evaluate("window.assistantDemo.counts")
    assert seen["transcript.partial"] >= 1 and seen["transcript.final"] >= 1
    assert seen["reply.delta"] >= 1 and seen["vad.speech_started"] >= 1
    # the latency readout comes from the metrics event
    page.wait_for_function("document.querySelector('[data-metric=final_to_first_token]').textContent !== '–'",
                           timeout=TIMEOUT_MS)
    page.click("#mic")  # stop listening
    assert page.get_attribute("#mic", "aria-pressed") == "false"


@pytest.mark.slow
def test_push_to_talk(page, demo_server):
    open_demo(page, demo_server)
    page.locator("label", has_text="Push-to-talk").click()  # the radio inside is visually hidden
    assert page.is_checked("input[name=mode][value=push-to-talk]")
    box = page.locator("#mic").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_function("window.assistantDemo.state.talking && window.assistantDemo.counts.audioFrames > 25",
                           timeout=TIMEOUT_MS)  # > 1 s of audio sent
    page.mouse.up()  # audio.end: the utterance ends now
    page.wait_for_selector(".message.user", timeout=TIMEOUT_MS)
    assert wait_reply_done(page)[0].strip()


@pytest.mark.slow
def test_command_phrases(page, demo_server):
    open_demo(page, demo_server)
    page.fill("#phrases", "lights on, lights off")
    page.dispatch_event("#phrases", "change")  # sends session.update with asr.phrases
    page.locator("label", has_text="Push-to-talk").click()
    box = page.locator("#mic").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_function("window.assistantDemo.state.talking && window.assistantDemo.counts.audioFrames > 25",
                           timeout=TIMEOUT_MS)
    page.mouse.up()
    page.wait_for_function("window.assistantDemo.counts['transcript.final'] >= 1", timeout=TIMEOUT_MS)
    # the generated 'syllables' are either heard as one of the phrases (a user message and a reply),
    # or as none of them (a warning that names the closest phrases, and no reply)
    page.wait_for_function("document.querySelector('.message.user') !== null || "
                           "document.getElementById('banner-text').textContent.includes('command phrases')",
                           timeout=TIMEOUT_MS)
    users = page.locator(".message.user .text").all_inner_texts()
    if users:
        assert users[-1].strip() in ("lights on", "lights off")
    else:
        assert "closest: lights o" in page.inner_text("#banner-text")


@pytest.mark.slow
def test_typed_message_and_continuing_a_conversation(page, browser, demo_server):
    open_demo(page, demo_server)
    page.fill("#text-input", "hello there")
    page.press("#text-input", "Enter")
    assert page.locator(".message.user .text").first.inner_text() == "hello there"
    assert wait_reply_done(page)[0].strip()
    conversation = page.evaluate("window.assistantDemo.state.conversationId")
    assert conversation and conversation in page.inner_text("#conversation-id")
    # the sidebar lists it from the server's memory (GET /v1/conversations)
    page.wait_for_selector(f".conversation[data-id='{conversation}']", timeout=TIMEOUT_MS)
    assert "hello there" in page.inner_text(f".conversation[data-id='{conversation}']")

    # another browser (nothing in its localStorage) continues it: the earlier turns come from
    # the server's memory and the session keeps the conversation id
    other = browser.new_context()
    try:
        page2 = other.new_page()
        page2.set_default_timeout(TIMEOUT_MS)
        open_demo(page2, demo_server, f"?conversation={conversation}")
        page2.wait_for_selector(".message.earlier")
        assert "hello there" in page2.inner_text("#messages")
        assert page2.inner_text("#conversation-title") == "hello there"
        page2.fill("#text-input", "and again")
        page2.click("#send")
        wait_reply_done(page2)
        assert page2.evaluate("window.assistantDemo.state.conversationId") == conversation
    finally:
        other.close()
    turns = demo_server.server.assistant.memory.export_conversation(conversation)["turns"]
    assert [t["text"] for t in turns if t["role"] == "user"] == ["hello there", "and again"]

    # "New conversation" starts another one
    page.click("#new-conversation")
    page.wait_for_function(f"window.assistantDemo.state.conversationId && "
                           f"window.assistantDemo.state.conversationId !== '{conversation}'", timeout=TIMEOUT_MS)
    assert page.locator(".message").count() == 0


@pytest.mark.slow
def test_stop_button_cancels_the_reply(page, demo_server):
    open_demo(page, demo_server)
    # a reply too long to finish by itself (session.update is part of the protocol)
    page.evaluate("window.assistantDemo.send({type: 'session.update', reply: {min_length: 1500, max_length: 1500}})")
    page.wait_for_function("window.assistantDemo.counts['session.updated'] >= 1")
    page.fill("#text-input", "tell me a long story")
    page.press("#text-input", "Enter")
    page.wait_for_selector(".message.assistant.streaming")
    page.wait_for_function("window.assistantDemo.counts['reply.delta'] >= 3")  # it is streaming
    page.click("#stop")
    page.wait_for_selector(".message.assistant[data-finish=cancelled]")
    assert "stopped" in page.inner_text(".message.assistant .who")
    assert page.is_disabled("#stop")
    shown = page.inner_text(".message.assistant .text")
    conversation = page.evaluate("window.assistantDemo.state.conversationId")
    turns = demo_server.server.assistant.memory.export_conversation(conversation)["turns"]
    assert turns[-1]["finish_reason"] == "cancelled"
    assert turns[-1]["text"].strip() == shown.strip()  # memory keeps what was delivered


@pytest.mark.slow
def test_barge_in_interrupts_the_reply(page, demo_server):
    """The looping microphone speaks again while a long reply streams: the server interrupts it."""
    open_demo(page, demo_server)
    page.evaluate("window.assistantDemo.send({type: 'session.update', reply: {min_length: 1500, max_length: 1500}})")
    page.wait_for_function("window.assistantDemo.counts['session.updated'] >= 1")
    page.click("#mic")
    page.wait_for_selector(".message.assistant[data-finish=interrupted]")
    assert "interrupted" in page.inner_text(".message.assistant[data-finish=interrupted] .who")
    page.click("#mic")
    shown = page.inner_text(".message.assistant[data-finish=interrupted] .text")
    conversation = page.evaluate("window.assistantDemo.state.conversationId")
    turns = demo_server.server.assistant.memory.export_conversation(conversation)["turns"]
    interrupted = [t for t in turns if t.get("finish_reason") == "interrupted"]
    assert interrupted and interrupted[0]["text"].strip() == shown.strip()  # only what was delivered


@pytest.mark.slow
def test_lost_connection_reconnects(page, models, tmp_path):
    srv = serve(models, tmp_path / "r.db").start()
    port = srv.port
    try:
        open_demo(page, srv)
        srv.stop()
        page.wait_for_selector("#banner:not([hidden])", timeout=TIMEOUT_MS)
        assert "Connection to the server lost" in page.inner_text("#banner")
        assert page.get_attribute("#connection", "data-state") == "offline"
        from server import ServerOptions, ServerThread
        from assistant import Assistant, AssistantConfig
        from assistant.memory import Memory

        db = str(tmp_path / "r.db")
        srv = ServerThread(Assistant(AssistantConfig(db_path=db), *models, Memory(db)),
                           ServerOptions(port=port)).start()
        page.wait_for_selector("#connection[data-state=online]", timeout=TIMEOUT_MS)
        assert page.is_hidden("#banner")
    finally:
        srv.stop()


@pytest.mark.slow
def test_token_in_the_address(page, models, tmp_path, allowed_console):
    allowed_console.append("401 (Unauthorized)")  # the refused handshake and the page's probe
    with serve(models, tmp_path / "t.db", token="sesame") as srv:
        page.goto(f"{srv.http_url}/")
        page.wait_for_selector("#connection[data-state=offline]")
        assert "needs an access token" in page.inner_text("#banner")
        open_demo(page, srv, "?token=sesame")  # the websocket and the HTTP requests carry it
        page.fill("#text-input", "hello")
        page.press("#text-input", "Enter")
        assert wait_reply_done(page)[0].strip()
        page.wait_for_selector(".conversation[data-id] >> text=hello")  # GET /v1/conversations with the token


@pytest.mark.slow
def test_refused_microphone_is_explained(playwright, demo_server):
    browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                         args=CHROMIUM_ARGS + ["--deny-permission-prompts"])
    try:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        open_demo(page, demo_server)
        page.click("#mic")
        page.wait_for_selector("#banner:not([hidden])")
        assert "Microphone access was refused" in page.inner_text("#banner")
        assert page.get_attribute("#mic", "aria-pressed") == "false"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_refused_microphone_is_explained.png"))
    finally:
        browser.close()


def test_page_ships_everything_it_loads():
    """No CDN, no web fonts, no external network: every file the page loads is in assistant/web."""
    web = ROOT / "assistant" / "web"
    html = (web / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'addModule\("([^"]+)"\)',
                                                                      (web / "app.js").read_text())
    assert "app.js" in refs and "style.css" in refs and "capture-worklet.js" in refs
    for ref in refs:
        assert "//" not in ref and (web / ref).is_file(), ref
    for path in web.iterdir():
        text = path.read_text()
        assert not re.search(r"""(src=|href=|url\(|import |fetch\()\s*["']?(https?:)?//""", text), path.name


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ASSISTANT_DEMO_SCREENSHOT"),
                    reason="set ASSISTANT_DEMO_SCREENSHOT=docs/demo.png to remake the README screenshot")
def test_demo_screenshot(playwright, tmp_path):
    """The README's picture: real models, a typed turn, a spoken turn, another typed turn."""
    import subprocess

    from assistant import Assistant, AssistantConfig
    from server import ServerOptions, ServerThread
    from speech.audio import load_audio

    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng speaks the demo question; install it (apt-get install espeak-ng)")
    raw = tmp_path / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw),
                    os.environ.get("ASSISTANT_DEMO_QUESTION", "what is your name")], check=True)
    speech = load_audio(raw)
    speech = 0.5 * speech / max(1e-6, float(np.abs(speech).max()))
    mic = tmp_path / "question.wav"
    sf.write(mic, np.concatenate([np.zeros(8000), speech, np.zeros(40000)]).astype(np.float32), 16000)
    config = AssistantConfig(speech_model=os.environ.get("ASSISTANT_DEMO_SPEECH_MODEL", "en"),
                             dialogue_model=os.environ.get("ASSISTANT_DEMO_DIALOGUE_MODEL", "en"),
                             db_path=str(tmp_path / "demo.db"))
    with ServerThread(Assistant.load(config), ServerOptions(port=0)) as srv:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", f"--use-file-for-fake-audio-capture={mic}"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.set_default_timeout(60000)
            open_demo(page, srv)
            page.fill("#text-input", "hello")
            page.press("#text-input", "Enter")
            wait_reply_done(page, 1)
            page.click("#mic")
            wait_reply_done(page, 2)
            page.click("#mic")
            page.fill("#text-input", "tell me a joke")
            page.press("#text-input", "Enter")
            wait_reply_done(page, 3)
            page.wait_for_timeout(500)  # the sidebar's conversation list refreshes
            page.screenshot(path=os.environ["ASSISTANT_DEMO_SCREENSHOT"])
        finally:
            browser.close()


def test_timer_and_action_events_are_shown(page, demo_server):
    """The page's own handlers for timer.fired (shown and spoken) and reply.action (a badge on the reply);
    the server side of both is tested in test_pipeline_actions."""
    open_demo(page, demo_server)
    page.evaluate("""() => {
        const d = window.assistantDemo;
        d.handleEvent({type: 'reply.started', reply_id: 'rep_t'});
        d.handleEvent({type: 'reply.action', reply_id: 'rep_t', action: 'timer.set', args: {duration: 'five minutes'}});
        d.handleEvent({type: 'reply.delta', reply_id: 'rep_t', text: 'Timer set for 5 minutes.'});
        d.handleEvent({type: 'reply.done', reply_id: 'rep_t', text: 'Timer set for 5 minutes.', finish_reason: 'eos'});
        d.handleEvent({type: 'timer.fired', timer_id: '7', kind: 'timer', label: null, due_at: '2026-12-07T20:47:00+00:00',
                       text: 'Your 5 minute timer is done.', late: false});
        d.handleEvent({type: 'timer.fired', timer_id: '8', kind: 'alarm', label: null, due_at: '2026-12-07T07:30:00+00:00',
                       text: 'Your 7:30 AM alarm went off while you were away.', late: true});
    }""")
    assert page.locator(".message.assistant[data-action='timer.set'] .badge.action").inner_text() == "timer.set"
    timers = page.locator(".message.timer")
    assert timers.count() == 2
    assert timers.nth(0).locator(".text").inner_text() == "Your 5 minute timer is done."
    assert timers.nth(1).get_attribute("data-late") == "true"
