"""Builds multi-turn chat samples from English text that Debian packages ship.

Sources:
  * fortunes (package `fortunes`, BSD licence: /usr/share/doc/fortunes/copyright): quotes and jokes;
  * the .NET SDK's reference-pack XML documentation (MIT, /usr/share/dotnet/LICENSE.txt): API summaries,
    turned into question/answer pairs about types and members.
Each sample is a conversation of 2-6 user/assistant turns, sometimes with a system prompt.
Output: JSON lines, one conversation ({"messages": [...]}) per line. Deterministic for a given seed.
"""
import argparse
import glob
import html
import json
import os
import random
import re

FORTUNE_DIR = "/usr/share/games/fortunes"
OFFENSIVE = {"off"}
# fortunes-zh installs its files beside the English ones (the other languages have folders of their own); the
# family tokenizers read them for multilingual text (tokenizer_fixtures.py), the English corpus must not.
NOT_ENGLISH = {"chinese", "song100", "tang300"}


def read_fortunes(root):
    items = []
    for path in sorted(glob.glob(os.path.join(root, "*"))):
        name = os.path.basename(path)
        if "." in name or not os.path.isfile(path) or name in OFFENSIVE or name in NOT_ENGLISH:
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for entry in text.split("\n%\n"):
            entry = entry.strip("\n%").strip()
            if not entry or len(entry) > 500 or "\t" in entry or any(ord(c) < 32 and c != "\n" for c in entry):
                continue
            # Collapse layout whitespace: replies are prose, not ASCII art.
            lines = [l.strip() for l in entry.splitlines()]
            if sum(1 for l in lines if len(l) > 0 and not re.search(r"[A-Za-z]", l)) > 1:
                continue
            prose = re.sub(r"\s+", " ", " ".join(lines)).strip()
            if len(prose) >= 20:
                items.append((name, prose))
    return items


def dotnet_ref_dir():
    candidates = sorted(glob.glob("/usr/share/dotnet/packs/Microsoft.NETCore.App.Ref/*/ref/net*"))
    candidates += sorted(glob.glob(os.path.expanduser("~/.dotnet/packs/Microsoft.NETCore.App.Ref/*/ref/net*")))
    if not candidates:
        raise SystemExit("no .NET reference pack found (install the .NET SDK)")
    return candidates[-1]


CREF = re.compile(r'<see (?:cref|langword|href)="(?:[A-Z]:)?([^"]+)"\s*/>')
PARAMREF = re.compile(r'<(?:paramref|typeparamref) name="([^"]+)"\s*/>')
TAG = re.compile(r"<[^>]+>")


def clean_doc(text):
    text = CREF.sub(lambda m: short_name(m.group(1)), text)
    text = PARAMREF.sub(lambda m: m.group(1), text)
    text = TAG.sub("", text)
    text = html.unescape(text)
    return re.sub(r"\s+", " ", text).strip()


def short_name(member_id):
    base = member_id.split("(")[0]
    base = re.sub(r"`+\d+", "", base)
    parts = base.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 else base


def read_api_docs(ref_dir):
    items = []
    member = re.compile(r'<member name="([TMP]):([^"]+)">\s*<summary>(.*?)</summary>', re.S)
    for path in sorted(glob.glob(os.path.join(ref_dir, "*.xml"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for kind, ident, summary in member.findall(text):
            summary = clean_doc(summary)
            if not (20 <= len(summary) <= 400) or "#ctor" in ident or "This API supports" in summary:
                continue
            base = re.sub(r"`+\d+", "", ident.split("(")[0])
            parts = base.split(".")
            if kind == "T":
                items.append(("type", parts[-1], ".".join(parts[:-1]), summary))
            else:
                items.append(("method" if kind == "M" else "property", parts[-1], parts[-2], summary))
    return items


GREETINGS = [
    ("Hello!", "Hello! How can I help you today?"),
    ("Hi there.", "Hi! What would you like to talk about?"),
    ("Good morning!", "Good morning! What can I do for you?"),
    ("Thank you.", "You're welcome."),
    ("Thanks, that helps.", "Glad it helped."),
    ("Who are you?", "I am a small chat model that answers questions about .NET and shares a quote now and then."),
    ("What can you do?", "I can explain .NET types and members, and I know a lot of fortunes."),
    ("Goodbye.", "Goodbye! Have a nice day."),
    ("Bye!", "Bye! Come back any time."),
]
SYSTEM_PROMPTS = [
    "You are a helpful assistant.",
    "You are a concise assistant that answers in one or two sentences.",
    "You are a friendly assistant who knows .NET well.",
    "You answer briefly.",
]
FORTUNE_ASKS = [
    "Tell me something about {topic}.",
    "Do you know a saying about {topic}?",
    "Give me a quote about {topic}.",
    "Say something on {topic}.",
    "Tell me a fortune.",
    "Share a quote with me.",
    "Give me something to think about.",
    "Cheer me up with a quote.",
    "What is your fortune for today?",
    "Another one, please.",
]
TOPICS = {
    "art": "art", "computers": "computers", "cookie": "life", "debian": "Debian", "definitions": "words",
    "drugs": "drugs", "education": "education", "ethnic": "people", "food": "food", "fortunes": "life",
    "goedel": "logic", "humorists": "humor", "kids": "kids", "knghtbrd": "hacking", "law": "law",
    "linux": "Linux", "linuxcookie": "Linux", "literature": "books", "love": "love", "magic": "magic",
    "medicine": "medicine", "men-women": "relationships", "miscellaneous": "anything", "news": "the news",
    "paradoxum": "paradoxes", "people": "people", "perl": "Perl", "pets": "pets", "platitudes": "platitudes",
    "politics": "politics", "pratchett": "Discworld", "riddles": "riddles", "science": "science",
    "songs-poems": "poems", "sports": "sports", "startrek": "Star Trek", "tao": "the Tao",
    "translate-me": "languages", "wisdom": "wisdom", "work": "work", "zippy": "Zippy",
}
API_ASKS = {
    "type": ["What is {name} in {ns}?", "What does the {name} type do?", "Explain {name}.",
             "Tell me about {ns}.{name}.", "What is {name} for?"],
    "method": ["What does {owner}.{name} do?", "Explain the {name} method of {owner}.",
               "How does {owner}.{name} work?", "What is {owner}.{name} for?"],
    "property": ["What is the {name} property of {owner}?", "What does {owner}.{name} return?",
                 "Explain {owner}.{name}."],
}


def fortune_turn(rng, fortunes):
    topic_file, text = rng.choice(fortunes)
    ask = rng.choice(FORTUNE_ASKS).format(topic=TOPICS.get(topic_file, "life"))
    return ask, text


def api_turn(rng, docs):
    kind, name, owner, summary = rng.choice(docs)
    ask = rng.choice(API_ASKS[kind]).format(name=name, owner=owner, ns=owner)
    return ask, summary


def conversation(rng, fortunes, docs):
    messages = []
    if rng.random() < 0.3:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    turns = rng.randint(2, 6)
    for t in range(turns):
        r = rng.random()
        if (t == 0 and r < 0.15) or (t == turns - 1 and r < 0.1):
            ask, reply = rng.choice(GREETINGS)
        elif r < 0.55:
            ask, reply = api_turn(rng, docs)
        else:
            ask, reply = fortune_turn(rng, fortunes)
        messages.append({"role": "user", "content": ask})
        messages.append({"role": "assistant", "content": reply})
    return {"messages": messages}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    fortunes = read_fortunes(FORTUNE_DIR)
    docs = read_api_docs(dotnet_ref_dir())
    print(f"fortunes: {len(fortunes)}  api summaries: {len(docs)}")
    with open(args.out, "w", encoding="utf-8") as f:
        for _ in range(args.samples):
            f.write(json.dumps(conversation(rng, fortunes, docs)) + "\n")
    print(f"wrote {args.samples} conversations to {args.out}")


if __name__ == "__main__":
    main()
