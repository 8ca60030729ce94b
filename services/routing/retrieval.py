"""A retrieval classifier for Chinese over the matter catalogue. Pure: no I/O.

    each matter ─▶ one document: name, category, keywords (twice) and example phrasings
                   (the catalogue's ``examples:`` and the learned ones an admin approved)
    a text ─NFKC, lower case─▶ weighted features
        w:  jieba's words (its own dictionary, no HMM: the same cut every time)      1.0
        b:  character bigrams of each run of Chinese (segmentation slips, typos)   BIGRAM
        u:  each character of it, a morpheme (树葬 meets 殡葬 in 葬, 病逝 meets 逝世 in 逝):
            a hint that ranks but is never evidence (alone it decides nothing)     UNIGRAM
        p:  toneless pinyin of each character pair (homophone typos: 公基金 reads
            as 公积金, 低宝 as 低保, 身分证 as 身份证)                                 PINYIN
            (+ BIGRAM when the pair itself is written nowhere in the catalogue)
        e:  English words, stemmed (died, dies -> die; moved -> mov)               1.0
        c:  the concept classes its words belong to, the same for catalogue and
            inquiry (娃, son -> child; 走了, 不在了, died -> death; vocabulary.py)  CONCEPT
            (derived: never one of the two words of a near-certainty)
        function words (请问, 怎么, 一下 …) are dropped; generic words that say little
        about which matter (退休, 离婚, 投诉, 办理, 证明 …) count GENERIC of their weight
    ─BM25 (bm25s, k1 K1, b B; built once per directory version and learned set)─▶
        bm25s's eager index holds each term's score in each document; they are read out
        into postings, so a query is a weighted sum over its features' postings (µs)
    ─calibration─▶ a softmax over the scores per unit of the query's weight, with a
        "none of these" class of score NONE: a match must beat nothing by a margin and
        the runner-up by a margin to get a high share; share = confidence. A best match
        on generic words alone gets at most GENERIC_ONLY: unclear, whatever its margin; one on
        a single specific word at most ONE_WORD (near-certainty needs two words)
    ─▶ clear when the best share >= CLEAR_AT, or when the suggestions handled where the
       best one is (unit, section or outside body) share >= PLACE_AT between them: where the
       case goes is clear (the best matter, at its own share); else unclear; the top 3 are
       the suggestions

The parameters were chosen on the dev split of ``tests/data/routing_inquiries.jsonl``; the
test split measures them (``bench/routing_accuracy_bench.py``).
"""

from __future__ import annotations

import heapq
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import bm25s
import jieba
from pypinyin import Style, lazy_pinyin

from services.routing.classify import Classification, Suggestion, destination, normalise
from services.routing.colloquial import expand
from services.routing.vocabulary import GENERIC as GENERIC_CONCEPTS
from services.routing.vocabulary import concepts, stem

if TYPE_CHECKING:
    from services.directory.index import DirectoryIndex
    from services.directory.model import Matter

K1, B = 1.2, 0.3
COLLOQUIAL = 0.5  # the catalogue's words for a colloquial phrase count this much
BIGRAM, PINYIN, ENGLISH = 0.5, 0.3, 1.0
CONCEPT = 0.7  # a concept class the text's words belong to (vocabulary.py)
UNIGRAM = 0.15  # each character (a morpheme: 树葬 shares 葬 with 殡葬, 病逝 逝 with 逝世)
GENERIC = 0.3
TEMPERATURE = 0.25  # softmax temperature, in score per unit of query weight
NONE = 0.5  # the "none of these" class's score, same unit
CLEAR_AT = 0.5
GENERIC_ONLY = 0.45  # the most a match on generic words alone can get: below CLEAR_AT
PLACE_AT = 0.6  # or the suggestions handled where the best one is share this between them
ONE_WORD = 0.85  # the most a match on a single specific word of the inquiry can get
RUNNER_UP = 0.02  # near-certainty (above ONE_WORD) only when the runner-up's share is below
COVERED = 0.6  # and when the best matter's document holds this share of the person's words
TOP = 3
RERANK = 6  # the best matters the sibling rerank looks at
MISFIT = 0.6  # a sibling whose action the inquiry does not ask for keeps this much of its score


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that say nothing about the matter: how people ask, not what they ask about.
FUNCTION_WORDS = _words("""
我 你 他 她 我们 你们 他们 您 的 了 吗 呢 啊 吧 呀 哦 嗯 喂 是 在 有 和 跟 与 就 都 也 还 要 想
能 会 请问 请 问 问下 问问 一下 你好 您好 怎么 怎么样 咋 咋整 如何 什么 啥 哪 哪里 哪儿 哪个 在哪
去哪 多少 我要 我想 想问 我的 要去 能否 是否 帮我 一个 一张 怎么办 么办 可以 能不能 可不可以 需要
需不需要 是不是 有没有 应该 那个 这个 就是 然后 现在 已经 知道 不知道
去 来 弄 搞 办 帮 给 让 把 被 说 听说 好 个 些 吗 么 嘛 没 不 很 太 又 再 一 二 着 过 下 上 里
啥子 咋个 晓得 不晓得 么子 哪样 搞哪样 咋弄 咋办 咋搞 怎么弄 怎么搞 整 嘞 哈 噻 撒 咯 喔 哇 噢
俺 咱 咱们 侬 阿拉 伐 啥个 哪搭 哪块 啷个 怎个 麻烦 谢谢 师傅 同志 美女 请教 劳驾
i my me we our you your the a an to of for is are am do does how what where can could
should need want please and or in on at it this that be with have has get
was were been being did done doing will would shall may might must just also very really
so than then there here when which who whom whose why all any some nor too about above
after again before by during from into off over under up down through until while as if
because but each few more most other such both these those they them their he him his she
her hers us ours yours mine it's its i'm im m t s d ll ve re don doesn didn isn wasn aren
hasn haven couldn won ago since now today tomorrow yesterday week weeks month months year
years day days last next morning still already yet many much lot lots thing things
something anything way go got going know tell told ask asked
""")

# Words that name a whole field rather than one matter; alone they must not decide.
GENERIC_WORDS = _words("""
办理 申请 手续 材料 证明 证件 登记 补贴 补助 政策 问题 事情 事 咨询 反映 投诉 举报 部门 窗口
政府 单位 退休 离婚 结婚 社保 老人 孩子 家里 户口 房子 钱 补 换 领 交 开 查 证 卡 费 去世
办事 情况 要求 规定 条件 时间 多久 地方 东西 资料 信息 相关 服务 电话 手机 号码 联系
apply certificate card register registration new office open time help problem question
""")

# Characters that only ever ask or point (什么, 怎么, 哪里, 我们 …): a pair holding one is noise.
FUNCTION_CHARS = frozenset("的了吗呢么什啊吧呀哦嗯喂怎咋啥哪们这那我你他她您俺咱嘞噻")

_RUNS = re.compile(r"[\u3400-\u9fff]+|[a-z0-9]+")
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def prepare() -> None:
    """Load jieba's dictionary now (~0.7 s of CPU) rather than on the first inquiry."""
    _tokenizer()


@lru_cache(maxsize=8192)
def _pinyin(char: str) -> str:
    syllable: str = lazy_pinyin(char, style=Style.NORMAL)[0]
    return syllable


@dataclass(frozen=True)
class Query:
    weights: dict[str, float]  # feature -> weight
    specific: frozenset[str]  # the features that are not generic words (or their bigram)
    sounds: tuple[tuple[str, str, float], ...] = ()  # (bigram, its pinyin, weight) pairs
    spoken: frozenset[str] = frozenset()  # specific features the person wrote themselves
    own: tuple[dict[str, float], tuple[tuple[str, str, float], ...]] | None = None
    # ^ when the colloquial table added words: the weights and sounds of the person's alone


def features(text: str) -> Query:
    """The weighted features of a text (see the module docstring)."""
    tokenizer = _tokenizer()
    out: dict[str, float] = {}
    specific: set[str] = set()
    sounds: list[tuple[str, str, float]] = []

    scale = 1.0
    spoken: set[str] = set()  # the features of what the person wrote (not of the table's)

    def add(feature: str, weight: float, generic: bool = False, derived: bool = False,
            evidence: bool = True) -> None:
        out[feature] = out.get(feature, 0.0) + weight * scale * (GENERIC if generic else 1.0)
        if not generic and evidence:
            specific.add(feature)
            if scale == 1.0 and not derived:
                spoken.add(feature)

    said = normalise_spaced(text)
    runs = [(run, 1.0) for run in _RUNS.findall(said)]
    runs += [(run, COLLOQUIAL) for run in _RUNS.findall(expand(said))]
    own = None
    for run, factor in runs:
        if factor != 1.0 and own is None:  # the person's words are all in: keep them apart
            own = _with_concepts(said, add, out, sounds)
        scale = factor
        if run[0].isascii():
            if run not in FUNCTION_WORDS:
                add("e:" + stem(run), ENGLISH, run.isdigit() or run in GENERIC_WORDS)
            continue
        for word in tokenizer.cut(run, HMM=False):
            if len(word) > 1 and word not in FUNCTION_WORDS:
                add("w:" + word, 1.0, word in GENERIC_WORDS)
        for char in run:
            if char not in FUNCTION_CHARS and char not in FUNCTION_WORDS:
                add("u:" + char, UNIGRAM, char in GENERIC_WORDS, evidence=False)
        sounds_of = [_pinyin(char) for char in run]
        for i in range(len(run) - 1):
            pair = run[i:i + 2]
            if pair not in FUNCTION_WORDS and not FUNCTION_CHARS.intersection(pair):
                generic = pair in GENERIC_WORDS
                sound = "p:" + sounds_of[i] + sounds_of[i + 1]
                add("b:" + pair, BIGRAM, generic)
                add(sound, PINYIN, generic)
                sounds.append(("b:" + pair, sound, BIGRAM * (GENERIC if generic else 1.0)))
    if own is None:
        scale = 1.0
        _with_concepts(said, add, out, sounds)
    return Query(out, frozenset(specific), tuple(sounds), frozenset(spoken), own)


def _with_concepts(
    said: str, add: Callable[..., None], out: dict[str, float],
    sounds: list[tuple[str, str, float]],
) -> tuple[dict[str, float], tuple[tuple[str, str, float], ...]]:
    """Add the concepts of what the person wrote (derived: they never count towards the
    two words of a near-certainty; generic when named by generic words alone); return the
    person's features so far, concepts included."""
    for name, members in concepts(said).items():
        generic = name in GENERIC_CONCEPTS or all(m in GENERIC_WORDS for m in members)
        add("c:" + name, CONCEPT, generic, derived=True)
    return dict(out), tuple(sounds)


def normalise_spaced(text: str) -> str:
    """NFKC and lower case, keeping the spaces between English words."""
    return " ".join(normalise(word) for word in text.split())


@dataclass(frozen=True)
class Index:
    matters: tuple[Matter, ...]
    postings: dict[str, tuple[tuple[int, float], ...]]  # feature -> (matter, BM25 score)
    holders: dict[str, frozenset[int]]  # feature -> the matters whose document has it


def documents(matter: Matter, learned: tuple[str, ...] = ()) -> list[str]:
    return [matter.name, matter.category, *matter.keywords, *matter.keywords,
            *matter.examples, *learned]


def _document_tokens(texts: list[str]) -> list[str]:
    """A document's features as BM25 tokens: each feature repeated by its rounded weight
    (so a bigram counts half a word), at least once."""
    tokens: list[str] = []
    for text in texts:
        for feature, weight in features(text).weights.items():
            tokens += [feature] * max(1, round(weight * 2))
    return tokens


@lru_cache(maxsize=8)
def build_index(directory: DirectoryIndex, learned: tuple[tuple[str, str], ...] = ()) -> Index:
    matters = tuple(directory.matters.values())
    extra: dict[str, list[str]] = {}
    for code, phrase in learned:
        extra.setdefault(code, []).append(phrase)
    corpus = [_document_tokens(documents(m, tuple(extra.get(m.code, ())))) for m in matters]
    retriever = bm25s.BM25(k1=K1, b=B)
    with _LOCK:  # bm25s is not documented as thread-safe while indexing
        retriever.index(corpus, show_progress=False)
    scores = retriever.scores
    data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
    postings = {}
    for token, t in retriever.vocab_dict.items():
        if not token:  # bm25s's own empty token, outside the matrix
            continue
        lo, hi = int(indptr[t]), int(indptr[t + 1])
        if hi > lo:
            postings[token] = tuple(
                (int(d), float(s)) for d, s in zip(indices[lo:hi], data[lo:hi], strict=True))
    holders = {f: frozenset(d for d, _ in p) for f, p in postings.items()}
    return Index(matters, postings, holders)


# What the inquirer wants done with a paper or card: siblings of one section differ in this
# (申领 / 挂失 / 补换, 结婚登记 / 补领, 首次登记 / 遗失补发) and BM25 cannot see a word missing.
LOSS = re.compile(
    r"丢|掉了|遗失|找不[到着见]|不见了|被[偷盗扒抢]|偷了|扒了|弄没|搞没|挂失|停掉|停用|冻结"
    r"|\b(?:lost|lose|stolen|missing|block|freeze|suspend)\b")
REDO = re.compile(
    r"补(?![贴助偿差缴交税充习课])|换|重新|重办|重做|再[办做领补开弄]|升级"
    r"|坏|烂|破|损|磨|断了|裂|折了|消磁|读不|刷不|旧了|过期|到期|泡水|洗了"
    r"|\b(?:replace|replacement|reissue|renew|broken|damaged|expired|again|another)\b")


@dataclass(frozen=True)
class Wants:
    loss: bool  # it was lost or stolen (report it, or replace it)
    redo: bool  # a new one for an old, damaged, expired or lost one


def wants(text: str) -> Wants:
    said = normalise_spaced(text)
    return Wants(bool(LOSS.search(said)), bool(REDO.search(said)))


@lru_cache(maxsize=256)
def action(name: str) -> str:
    """What a matter's name says it does with its paper or card: "report" (挂失), "replace"
    (补换, 补领, 补发, 换发, 遗失), "issue" (申领, 首次, a bare "… 登记"), or "" (anything else,
    or issue and replace at once as 申领、换领和补领)."""
    name = re.sub(r"（.*?）", "", name)
    replace = bool(re.search(r"补[换领发办]|换[发领卡]|遗失", name))
    issue = bool(re.search(r"申领|首次|登记$|登记申请", name)) and not re.search(
        r"转移|抵押|变更|更正|注销|查询|核定", name)
    if "挂失" in name:
        return "report"
    if replace and not issue:
        return "replace"
    if issue and not replace:
        return "issue"
    return ""


def _fits(kind: str, want: Wants, reported: bool) -> bool:
    """``reported``: a sibling is the "report" one (挂失), so a loss alone is its."""
    if kind == "report":
        return want.loss and not want.redo  # lost and to be replaced: the replacement's
    if kind == "replace":
        return want.redo or want.loss and not reported
    if kind == "issue":
        return not (want.loss or want.redo)
    return True  # pragma: no cover - "" kinds are not reranked


def rerank(index: Index, totals: list[float], want: Wants) -> bool:
    """Among the best RERANK matters, siblings of one section (or outside body) are put in
    the order of their scores with MISFIT applied to those whose action the inquiry does not
    ask for (when a sibling's fits). Only their order changes: they keep the scores of the
    places they held, so no matter outside the group moves and no confidence grows. True when
    the best matter changed (the action words decided it: never near-certainty)."""
    best = heapq.nlargest(RERANK, range(len(totals)), key=totals.__getitem__)  # ties: lower i
    if not best:
        return False
    groups: dict[tuple[str | None, ...], list[int]] = {}
    for i in best:
        if totals[i] > 0:
            groups.setdefault(destination(index.matters[i]), []).append(i)
    for group in groups.values():
        kinds = {i: action(index.matters[i].name) for i in group}
        members = [i for i in group if kinds[i]]  # a matter of no such action keeps its place
        reported = "report" in kinds.values()
        fit = {i: _fits(kinds[i], want, reported) for i in members}
        if len(members) < 2 or all(fit.values()) or not any(fit.values()):
            continue
        places = sorted((totals[i] for i in members), reverse=True)
        order = sorted(members, key=lambda i: (-totals[i] * (1.0 if fit[i] else MISFIT), i))
        for i, score in zip(order, places, strict=True):
            totals[i] = score
    return _best(totals, best) != best[0]


def scores(index: Index, query: Query) -> tuple[list[float], float]:
    """Each matter's BM25 score for the weighted query, and the query's total weight. The
    characters' scores count only for a matter something else found."""
    totals = [0.0] * len(index.matters)
    hints = [0.0] * len(index.matters)  # characters: they rank, never find, a matter
    for feature, weight in query.weights.items():
        into = hints if feature[0] == "u" else totals
        for matter, score in index.postings.get(feature, ()):
            into[matter] += weight * score
    for bigram, sound, weight in query.sounds:
        if bigram not in index.postings:  # a pair the catalogue never writes: a typo?
            for matter, score in index.postings.get(sound, ()):
                totals[matter] += weight * score  # its sound stands in for it
    return [t + h if t else 0.0 for t, h in zip(totals, hints, strict=True)], sum(
        query.weights.values())


def _specific_match(index: Index, query: Query, matter: int) -> list[str]:
    """The query's specific features found in the matter's document."""
    return [f for f in sorted(query.specific) if matter in index.holders.get(f, ())]


def classify_text(
    text: str, directory: DirectoryIndex, learned: tuple[tuple[str, str], ...] = ()
) -> Classification:
    index = build_index(directory, learned)
    query = features(text)
    totals, mass = scores(index, query)
    reranked = rerank(index, totals, wants(text))
    ranked = [i for i in heapq.nlargest(TOP, range(len(totals)), key=totals.__getitem__)
              if totals[i] > 0]  # ties: the lower index first, as nlargest keeps order
    if not ranked:
        return Classification(None, 0.0)
    shares = _shares([totals[i] for i in ranked], mass)
    evidence = _specific_match(index, query, ranked[0])
    if not evidence:  # generic words alone never decide
        shares[0] = min(shares[0], GENERIC_ONLY)
    elif shares[0] > ONE_WORD and (
            _own_words(index, query, evidence, ranked[1:2]) < 2 or reranked
            or len(shares) > 1 and shares[1] >= RUNNER_UP
            or _covered(index, query, ranked[0]) < COVERED
            or _table_decided(index, query, ranked[0])):
        # near-certainty needs a wide margin (the runner-up under RUNNER_UP), two words of
        # the person's own that the runner-up's document lacks (the table's words and the
        # concepts add none), most of the person's words explained (a driver's licence is
        # not an ID card however well "renew" fits), and is never a best match
        # the action words or the table's words alone put first
        shares[0] = min(shares[0], ONE_WORD)
    suggestions = tuple(Suggestion(index.matters[i], round(s, 3))
                        for i, s in zip(ranked, shares, strict=True))
    best = suggestions[0]
    matched = tuple(f[2:] for f in evidence if f[0] in "wbe")
    # where it goes is clear when the suggestions handled where the best one is share enough
    # (补办 or 挂失: one section either way); the confidence stays the best matter's own
    place = destination(best.matter)
    if best.score >= CLEAR_AT or evidence and sum(
            s.score for s in suggestions if destination(s.matter) == place) >= PLACE_AT:
        return Classification(best.matter, best.score, matched, suggestions=suggestions)
    return Classification(None, best.score, matched, tuple(s.code for s in suggestions),
                          suggestions=suggestions)


def _own_words(index: Index, query: Query, evidence: list[str], rivals: list[int]) -> int:
    """How many of the person's own words in the best matter's document the rivals' lack."""
    return sum(f[0] in "we" and f in query.spoken
               and not any(r in index.holders.get(f, ()) for r in rivals) for f in evidence)


def _covered(index: Index, query: Query, best: int) -> float:
    """The share of the weight of the person's own specific words (Chinese and English) that
    the best matter's document holds."""
    own = [f for f in query.spoken if f[0] in "we"]
    total = sum(query.weights[f] for f in own)
    held = sum(query.weights[f] for f in own if best in index.holders.get(f, ()))
    return held / total if total else 0.0


def _table_decided(index: Index, query: Query, best: int) -> bool:
    """The colloquial table's words are a guess at what was meant: did they alone put the
    best matter first? (Scored again without them, only for a would-be near-certainty.)"""
    if query.own is None:
        return False
    weights, sounds = query.own
    return _best(scores(index, Query(weights, query.specific, sounds))[0]) != best


def _best(totals: list[float], among: list[int] | None = None) -> int:
    """The index of the highest total (the lowest index of equals)."""
    return max(range(len(totals)) if among is None else sorted(among), key=totals.__getitem__)


def _shares(top: list[float], mass: float) -> list[float]:
    """Softmax over the top scores per unit of query weight, beside a "none" class."""
    unit = max(mass, 1.0)
    logits = [s / unit / TEMPERATURE for s in top]
    none = NONE / TEMPERATURE
    peak = max([*logits, none])
    exps = [math.exp(x - peak) for x in logits]
    total = sum(exps) + math.exp(none - peak)
    return [e / total for e in exps]
