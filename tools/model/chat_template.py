"""The tiny-chat template. The .NET engine renders the same strings (src/Inference, template "tiny-chat").

    <|system|>\n{system}\n          (optional)
    <|user|>\n{user}\n
    <|assistant|>\n{reply}<|endoftext|>

The markers are plain text that r50k_base encodes as ordinary tokens; <|endoftext|> (50256) ends a turn.
"""
SYSTEM = "<|system|>\n"
USER = "<|user|>\n"
ASSISTANT = "<|assistant|>\n"
END_OF_TURN = "<|endoftext|>"


def render(messages, add_generation_prompt=False):
    out = []
    for m in messages:
        role, content = m["role"], m["content"]
        if role == "system":
            out.append(SYSTEM + content + "\n")
        elif role == "user":
            out.append(USER + content + "\n")
        elif role == "assistant":
            out.append(ASSISTANT + content + END_OF_TURN)
        else:
            raise ValueError(f"unknown role {role}")
    if add_generation_prompt:
        out.append(ASSISTANT)
    return "".join(out)
