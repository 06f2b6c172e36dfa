"""The reference tokenizers, loaded offline from the vendored ranks file (data/).

tiktoken: its o200k_harmony constructor, with the ranks loader pointed at data/.
openai-harmony: reads the file from TIKTOKEN_ENCODINGS_BASE (data/), never the network.
"""
import os

URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def vocab_path(home=None):
    home = home or os.environ.get("GPTOSS_HOME") or os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))
    return os.path.join(home, "data", "o200k_base.tiktoken")


def tiktoken_o200k_harmony(home=None):
    """tiktoken's own o200k_harmony encoding: its constructor (pattern, special tokens) with
    the ranks read from the vendored file, so no download can happen."""
    import tiktoken
    import tiktoken.load
    import tiktoken_ext.openai_public as public

    path = os.path.abspath(vocab_path(home))
    real_load = tiktoken.load.load_tiktoken_bpe

    def local_load(url, expected_hash=None):
        assert url == URL, url
        return real_load(path, expected_hash=expected_hash)

    public.load_tiktoken_bpe = local_load
    try:
        return tiktoken.Encoding(**public.o200k_harmony())
    finally:
        public.load_tiktoken_bpe = real_load


def harmony_encoding(home=None):
    """openai-harmony's HARMONY_GPT_OSS encoding."""
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = os.path.dirname(os.path.abspath(vocab_path(home)))
    import openai_harmony
    return openai_harmony.load_harmony_encoding(openai_harmony.HarmonyEncodingName.HARMONY_GPT_OSS)
