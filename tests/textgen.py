"""Deterministic pseudo-English for the tests (with some UTF-8 and wiki markup)."""
import random

WORDS = ("the of and to in a is that for it as was with be by on not he I this are "
         "or his from at which but have an they you were her she there one all we "
         "their when been has would more if no out so said what up its about into "
         "than them can only other new some time could these two may then do first "
         "any my now such like our over man me even most made after also did many "
         "compression state space model token probability range coder entropy "
         "[[link]] {{cite}} '''bold''' &lt;ref&gt; "
         "naïve café Zürich déjà-vu ½ → λ 東京 Ελληνικά").split()


def make_text(n, seed=0):
    """About n bytes of text, the same for the same (n, seed)."""
    rng = random.Random(seed)
    out, size = [], 0
    while size < n:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
        line = line[0].upper() + line[1:] + rng.choice(".,;!?") + "\n"
        out.append(line)
        size += len(line.encode())
    return "".join(out).encode()[:n]
