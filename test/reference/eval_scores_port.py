"""The published eval_scores.py's per-row scores (its normalize_answer, exact_match, f1_score and
substring_match, and its reading of predicted_answer and ground_truth), for
test/protocol/score-cli.test.ts. Standard library only. Reads res.json on stdin, prints a JSON list
of [em, f1, substring] per row."""
import json
import re
import string
import sys


def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1_score(pred, gold):
    p_tokens = normalize_answer(pred).split()
    g_tokens = normalize_answer(gold).split()
    if not p_tokens and not g_tokens:
        return 1.0
    if not p_tokens or not g_tokens:
        return 0.0
    g_counts = {}
    for t in g_tokens:
        g_counts[t] = g_counts.get(t, 0) + 1
    common = 0
    for t in p_tokens:
        if g_counts.get(t, 0) > 0:
            common += 1
            g_counts[t] -= 1
    if common == 0:
        return 0.0
    precision = common / len(p_tokens)
    recall = common / len(g_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(pred, gold):
    return 1 if normalize_answer(pred) == normalize_answer(gold) else 0


def substring_match(pred, gold):
    p, g = normalize_answer(pred), normalize_answer(gold)
    return 1 if (g in p) or (p in g) else 0


out = []
for item in json.load(sys.stdin):
    pred = item.get("predicted_answer", "")
    golds = item.get("ground_truth", [])
    if not isinstance(golds, list):
        golds = [str(golds)]
    em, sm, f1 = 0, 0, 0.0
    for gold in golds:
        em = max(em, exact_match(pred, gold))
        sm = max(sm, substring_match(pred, gold))
        f1 = max(f1, f1_score(pred, gold))
    out.append([em, f1, sm])
print(json.dumps(out))
