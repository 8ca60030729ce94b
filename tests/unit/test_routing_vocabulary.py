"""Routing's word-level vocabulary (concept classes), its English stemmer, and the margin a
near-certain classification needs: through the classifier, against the demo catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.routing_accuracy_bench import OVERCONFIDENT, evaluate, load_items
from services.directory.index import DirectoryIndex
from services.directory.loader import load_directory
from services.routing import retrieval
from services.routing.classify import classify
from services.routing.vocabulary import concepts, stem

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "directory.yaml"


@pytest.fixture(scope="module")
def city() -> DirectoryIndex:
    return DirectoryIndex(load_directory(DEMO), 1)


@pytest.mark.parametrize(("words", "root"), [
    (("died", "dies", "die"), "die"), (("moved", "moving", "moves", "move"), "mov"),
    (("married", "marries", "marry"), "marry"), (("cards", "card"), "card"),
    (("stopped", "stop"), "stop"), (("children", "child"), "child"),
    (("lost", "lose", "losing"), "los"),
])
def test_english_word_forms_share_one_stem(words, root):
    assert {stem(w) for w in words} == {root}


@pytest.mark.parametrize(("text", "concept"), [
    ("老人走了", "death"), ("my father passed away", "death"), ("he died", "death"),
    ("娃生下来一个月", "child"), ("my son", "child"), ("i was laid off", "jobless"),
    ("厂子倒闭了", "jobless"), ("房本找不到了", "property_cert"),
    ("the title deeds", "property_cert"),
])
def test_how_people_say_a_thing_names_its_concept(text, concept):
    assert concept in concepts(text)


def test_an_english_phrase_is_matched_whole_not_word_by_word():
    assert "death" not in concepts("he went away for a week")
    assert "jobless" not in concepts("the light is off")


def test_suffix_stripping_does_not_merge_different_words():
    assert stem("fired") != stem("fire") and stem("plane") != stem("planning")
    assert "jobless" not in concepts("our house caught fire")


@pytest.mark.parametrize(("text", "code"), [
    # written for this test, in none of the labelled sets: the concept (不在了 / died ->
    # death, 倒闭 -> out of work, married -> marriage) carries what the words alone did not
    ("老父亲不在了，户口本上他那一页要怎么处理", "GAJ-03"),
    ("We are getting married next month, where do we register?", "MZJ-03"),
    ("I got fired last month and have no job now", "RSJ-JY-01"),
])
def test_paraphrases_reach_the_matter_through_concepts(city, text, code):
    c = classify(text, city)
    assert c.suggestions[0].code == code


def test_a_concept_named_by_a_generic_word_alone_never_decides(city):
    c = classify("离婚", city)  # 离婚 is generic; its concept (divorce) must not make it clear
    assert not c.clear


@pytest.mark.parametrize("split", ["dev", "dev2", "dev3"])
def test_near_certainty_has_a_wide_margin_over_the_runner_up(city, split):
    for item in load_items(split):
        c = classify(item["text"], city)
        if c.confidence > retrieval.ONE_WORD and len(c.suggestions) > 1:
            assert c.suggestions[1].score <= retrieval.RUNNER_UP, item["id"]  # shown rounded


@pytest.mark.parametrize("split", ["dev", "dev2", "dev3"])
def test_the_sets_tuned_on_keep_their_floor_and_no_over_confident_error(city, split):
    scores = evaluate(classify, city, load_items(split))
    assert scores.top1 >= 90 and scores.top3 >= 97 and scores.ooc_rejected >= 80
    assert scores.overconfident == 0 and OVERCONFIDENT == 0.9
