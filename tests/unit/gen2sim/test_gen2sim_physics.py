"""Physics: tables, answer parsing, and the language-model query over a real OpenAI-style HTTP server."""

import http.server
import json
import threading

import pytest

from rlscope.gen2sim.assets.build import BuildOptions, build_from_images
from rlscope.gen2sim.assets.physics import (
    CATEGORIES, LLMOptions, choose_values, lookup_category, parse_physics_answer, query_physics, table_answer,
)


@pytest.mark.parametrize(
    "category, expected",
    [("mug", "mug"), ("Coffee Mug", "mug"), ("mugs", "mug"), ("red coffee mug", "mug"), ("trash can", "trash_can"),
     ("spaceship", None), (None, None)],
)
def test_lookup_category(category, expected):
    assert lookup_category(category)[0] == expected


def test_table_fallback_values():
    a = table_answer("bottle")
    assert a.source == "table" and a.size_cm == CATEGORIES["bottle"].size_cm and a.shape == "round"
    size, mass = choose_values(a, None)
    assert size == pytest.approx(sum(a.size_cm) / 200) and mass == pytest.approx(sum(a.mass_g) / 2000)


GOOD = '{"size_cm": [20, 30], "mass_g": [400, 800], "material": "glass", "shape": "round"}'


@pytest.mark.parametrize(
    "text, size, mass, material",
    [
        (GOOD, (20, 30), (400, 800), "glass"),
        ("Sure!\n```json\n" + GOOD + "\n```", (20, 30), (400, 800), "glass"),
        ('{"size_cm": 25, "mass_g": {"min": 800, "max": 400}, "material": "Stainless Steel"}', (21.25, 28.75), (400, 800), "metal"),
    ],
)
def test_parse_good_answers(text, size, mass, material):
    answer, _ = parse_physics_answer(text, "bottle")
    assert answer.size_cm == pytest.approx(size) and answer.mass_g == pytest.approx(mass) and answer.material == material


@pytest.mark.parametrize(
    "text, reason",
    [
        ("I think it weighs about half a kilo.", "no JSON"),
        ('{"size_cm": [20, 30]}', "mass_g"),
        ('{"size_cm": [20, 30], "mass_g": ["heavy", 3]}', "two numbers"),
        ('{"size_cm": [0, 90000], "mass_g": [1, 2]}', "plausible"),
        ('{"size_cm": [20, 30, 40], "mass_g": [1, 2]}', "min, max"),
    ],
)
def test_parse_bad_answers(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_physics_answer(text, "bottle")


def test_unknown_material_is_filled_from_the_table():
    answer, notes = parse_physics_answer('{"size_cm": [20, 30], "mass_g": [400, 800], "material": "unobtainium"}', "bottle")
    assert answer.material == "glass" and "unobtainium" in notes[0]


class ChatServer:
    """A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol."""

    def __init__(self, answer: str):
        self.answer = answer
        self.requests: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, **body})
                payload = {
                    "id": "x", "object": "chat.completion", "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": outer.answer},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
                }
                raw = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def opts(url):
    return LLMOptions(llm=f"openai:physics-model@{url}", timeout_s=10, max_retries=0)


def test_llm_query_over_http():
    with ChatServer(GOOD) as server:
        answer, warnings = query_physics("wine bottle", "bottle", opts(server.url), seed=3)
    assert answer.source == "llm" and answer.size_cm == (20, 30) and answer.material == "glass" and not warnings
    assert answer.raw["_backend"] == "openai" and answer.raw["_model"] == "physics-model"
    req = server.requests[0]
    from rlscope.llm.base import sample_seed

    assert req["path"] == "/v1/chat/completions" and req["model"] == "physics-model"
    assert req["seed"] == sample_seed(0, "chat", 3)  # the asset's seed picks the draw
    prompt = req["messages"][-1]["content"]
    assert "bottle" in prompt and "size_cm" in prompt and "mass_g" in prompt


def test_malformed_llm_answer_falls_back_with_a_warning(caplog):
    with ChatServer("The bottle is made of glass and weighs a bit.") as server:
        answer, warnings = query_physics("bottle", "bottle", opts(server.url))
    assert answer.source == "table" and answer == table_answer("bottle")
    assert "unusable" in warnings[0] and "category table" in warnings[0]
    assert any("unusable" in r.message for r in caplog.records)


def test_unreachable_server_falls_back_with_a_warning():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answer, warnings = query_physics("bottle", "bottle", opts(f"http://127.0.0.1:{port}/v1"))
    assert answer.source == "table" and "failed" in warnings[0]


def test_llm_values_are_applied_to_the_asset(data_dir):
    answer = '{"size_cm": [40, 40], "mass_g": [2000, 2000], "material": "metal", "shape": "round"}'
    with ChatServer(answer) as server:
        built = build_from_images([data_dir / "bottle.jpg"], "bottle", BuildOptions(category="bottle", llm=opts(server.url)))
    a = built.asset
    assert a.physics.source == "llm" and a.physics.material == "metal"
    assert max(a.physics.size) == pytest.approx(0.40) and a.physics.mass == pytest.approx(2.0)
    assert a.links[0].inertial.mass == pytest.approx(2.0) and a.links[0].friction == pytest.approx(0.35)
    assert max(built.meshes["meshes/visual.obj"].extents) == pytest.approx(0.40)
