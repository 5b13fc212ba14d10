"""Sentence embeddings as sentence-transformers computes them (mean pooling over the attention
mask, then L2 normalisation: the all-MiniLM-L6-v2 recipe), on a tiny random BERT with its own
WordPiece vocabulary, saved as a sentence-transformers folder and exported to ONNX with
torch.onnx.export in the layout @huggingface/transformers loads (onnx/model.onnx)."""
import os
import shutil
import tempfile

import torch
from sentence_transformers import SentenceTransformer, models
from transformers import BertConfig, BertModel, BertTokenizerFast

from common import write_json

SENTENCES = [
    "The cat sat on the mat.",
    "A cat was sitting on a mat.",
    "Stock markets fell sharply on Monday.",
    "the quick brown fox jumps over the lazy dog",
    "Dune was written by Frank Herbert in 1965.",
    "Herbert wrote Dune.",
    "Unknownword zzz qqq!",
    "",
]
PAIRS = [[0, 1], [0, 2], [4, 5], [3, 6], [2, 5], [6, 7]]


def vocabulary():
    words = sorted({w.strip(".,!").lower() for s in SENTENCES[:6] for w in s.split()} - {""})
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)] + list(".,!?")
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + letters + ["##" + l for l in letters]


class LastHiddenState(torch.nn.Module):
    """BertModel with the three inputs transformers.js feeds, by name, and last_hidden_state out."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


def fixture(out):
    folder = os.path.join(out, "embeddings")
    bert_dir = tempfile.mkdtemp()
    with open(os.path.join(bert_dir, "vocab.txt"), "w") as f:
        f.write("\n".join(vocabulary()) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=os.path.join(bert_dir, "vocab.txt"), do_lower_case=True)
    torch.manual_seed(61)
    config = BertConfig(vocab_size=len(vocabulary()), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)
    bert = BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():
        # transformers' 0.02 init makes every sentence nearly the same vector; spread them.
        for name, p in bert.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 0.5)
    bert.save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)

    model_dir = os.path.join(folder, "model")
    word = models.Transformer(bert_dir, max_seq_length=64)
    st = SentenceTransformer(modules=[word, models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean"), models.Normalize()], device="cpu")
    st.save(model_dir)
    embeddings = st.encode(SENTENCES, convert_to_tensor=True, batch_size=len(SENTENCES))
    cosines = [float(torch.dot(embeddings[i], embeddings[j])) for i, j in PAIRS]
    shutil.rmtree(bert_dir)

    # The same BERT as an ONNX file beside it, for @huggingface/transformers' feature-extraction.
    example = tokenizer(["a b c"], return_tensors="pt")
    os.makedirs(os.path.join(model_dir, "onnx"), exist_ok=True)
    torch.onnx.export(LastHiddenState(bert), (example["input_ids"], example["attention_mask"], example["token_type_ids"]),
                      os.path.join(model_dir, "onnx", "model.onnx"), input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]})
    write_json(os.path.join(folder, "embeddings.json"), {
        "sentences": SENTENCES, "embeddings": embeddings.tolist(), "pairs": PAIRS, "cosines": cosines,
    })
