"""A byte-level tokenizer: every UTF-8 byte is a token, plus BOS, EOS and PAD."""
from typing import List, Tuple


class ByteTokenizer:
    bos_token_id, eos_token_id, pad_token_id = 256, 257, 258
    vocab_size = 259

    def encode(self, text: str) -> List[int]:
        return list(text.encode("utf-8", "surrogatepass"))

    def decode(self, ids) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", "replace")

    def encode_pair(self, prompt: str, solution: str) -> Tuple[List[int], int]:
        """``[BOS] prompt solution [EOS]`` and where the solution starts (the scored span runs from there
        to the end, EOS included: the model also judges where the solution stops)."""
        head = [self.bos_token_id] + self.encode(prompt)
        return head + self.encode(solution) + [self.eos_token_id], len(head)
