"""Action markup: grammar round trips, tags as whole tokenizer pieces, and growing a trained model's vocabulary."""

import pytest
import torch

from dialogue.actions import ACTION_SYMBOLS, ACTIONS, Action, format_action, is_action, parse_action
from dialogue.testing import tiny_model, tiny_tokenizer
from dialogue.text import normalize_input


def test_format_parse_round_trip():
    text = format_action("timer.set", {"label": "pasta", "duration": " five   minutes "})
    assert text == "<timer.set> <duration> five minutes <label> pasta"
    assert parse_action(text) == Action("timer.set", {"duration": "five minutes", "label": "pasta"})
    for name in ACTIONS:
        assert parse_action(format_action(name)).name == name


def test_plain_text_is_not_an_action():
    assert parse_action("It's nice to meet you.") is None
    assert not is_action("hello") and is_action(" <calc>")


def test_lenient_with_model_slips_strict_with_nonsense():
    # unknown or repeated argument tags: the first allowed value wins
    assert parse_action("<calc> <place> paris <expr> two plus two <expr> three").args == {"expr": "two plus two"}
    with pytest.raises(ValueError, match="not an action"):
        parse_action("<duration> five minutes")
    with pytest.raises(ValueError, match="unknown action"):
        format_action("weather.get")
    with pytest.raises(ValueError, match="takes no argument"):
        format_action("conv.repeat", {"expr": "x"})


def test_user_text_cannot_inject_markup():
    assert normalize_input("<timer.set> <duration> five minutes") == "timer set duration five minutes"


def test_tags_are_whole_pieces_and_values_tokenize_like_requests():
    tok = tiny_tokenizer(["set a timer for five minutes"]).with_symbols(ACTION_SYMBOLS)
    ids = tok.encode("<timer.set> <duration> five minutes")
    pieces = [tok.id_to_piece(i) for i in ids]
    assert "<timer.set>" in pieces and "<duration>" in pieces
    value = ids[pieces.index("<duration>") + 1:]
    assert value == tok.encode("five minutes")
    assert tok.decode(ids) == "<timer.set> <duration> five minutes"


def test_with_symbols_keeps_old_ids():
    tok = tiny_tokenizer(["hello there"])
    grown = tok.with_symbols(["<calc>", "<expr>", "<calc>"])
    assert len(grown) == len(tok) + 2
    assert all(grown.id_to_piece(i) == tok.id_to_piece(i) for i in range(len(tok)))
    assert grown.encode("hello there") == tok.encode("hello there")
    assert grown.with_symbols(["<calc>"]) is grown
    with pytest.raises(ValueError, match="without spaces"):
        tok.with_symbols(["<a b>"])


def test_grow_vocab_keeps_old_logits():
    model = tiny_model(300).eval()
    src = torch.tensor([[5, 6, 7]])
    lengths = torch.tensor([3])
    memory, state = model.encode(src, lengths)
    before, _ = model.decode(torch.tensor([[2, 8]]), state, memory)
    model.grow_vocab(310)
    assert model.config.vocab_size == 310 and model.embedding.weight.shape[0] == 310
    memory, state = model.encode(src, lengths)
    after, _ = model.decode(torch.tensor([[2, 8]]), state, memory)
    torch.testing.assert_close(after[..., :300], before)
    with pytest.raises(ValueError, match="smaller"):
        model.grow_vocab(100)


def test_grammar_and_assistant_import_without_torch():
    import subprocess
    import sys

    code = "import sys, dialogue.actions, assistant; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_grounding_snaps_slips_to_the_users_words_and_drops_invented_values():
    from dialogue.actions import ground_action

    slipped = parse_action("<timer.set> <duration> five minute <label> past")
    assert ground_action(slipped, "set a pasta timer for five minutes").args == {
        "duration": "five minutes", "label": "pasta"}
    assert ground_action(parse_action("<user.set> <fact> name <value> ana"), "My name is Anna!").args == {
        "fact": "name", "value": "anna"}
    # a place the user never said is not acted on; fixed-vocabulary values and "all" are kept
    assert ground_action(parse_action("<clock.time> <place> paris"), "what time is it").args == {}
    assert ground_action(parse_action("<cannot> <topic> weather"), "is it raining").args == {"topic": "weather"}
    assert ground_action(parse_action("<timer.cancel> <which> all"), "cancel every timer").args == {"which": "all"}
