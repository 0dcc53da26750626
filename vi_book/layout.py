"""Fitting a display into the text column: a typeset-width estimate and line breaking.

:func:`typeset_em` estimates the width, in em, that MathJax gives a LaTeX string in a display
(glyph widths of the TeX fonts, operator spacing, scripts at 71 %, a fraction as wide as its wider
half, an ``aligned`` block as wide as its widest row). :func:`fit_row` breaks a row wider than the
column the way a printed book does, trying in turn: its top-level relations (``=``, ``\\doteq``,
``\\Longrightarrow``, ``,\\qquad``, a ``\\quad\\text{...}`` note), its top-level ``+``/``-``
terms, the top-level bracket holding the widest sum (``\\left( a + b \\right)`` becomes
``\\Bigl( a \\\\ + b \\Bigr)``), and last a wide fraction (its numerator or denominator stacked
on rows of its own). A row that fits is returned unchanged; breaking only adds line markup
(``\\\\``, ``&``, ``\\quad``, ``aligned``) and turns a ``\\left``/``\\right`` pair that a break
separates into fixed-size delimiters, so the tokens of the mathematics are unchanged.
"""
from __future__ import annotations

import re

__all__ = ["typeset_em", "fit_row", "LINE_EM", "EM_PX", "strip_layout"]

#: Pixels per em of a displayed equation (MathJax CHTML in this theme, measured in Chromium).
EM_PX = 20.4
#: Widest row, in em, of a display in a code cell's output at 1280 px: the column is 676 px
#: (33.1 em) and :func:`typeset_em` underestimates a measured width by at most 8 %.
LINE_EM = 30.0

_SCRIPT = 0.71
_REL = 0.56       # thick space on both sides of a relation, in em
_BIN = 0.44       # medium space on both sides of a binary operator
_WIDTH = {
    # Greek letters (lower case italic, upper case upright), common symbols
    **{g: 0.57 for g in ("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa "
                         "lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi "
                         "chi psi omega").split()},
    **{g: 0.75 for g in "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()},
    "ell": 0.42, "partial": 0.57, "nabla": 0.83, "infty": 1.0, "top": 0.78, "star": 0.5, "prime": 0.28,
    "sum": 1.44, "prod": 1.28, "int": 0.56, "cdot": 0.28 + 2 * _BIN, "times": 0.78 + 2 * _BIN,
    "pm": 0.78 + 2 * _BIN, "mp": 0.78 + 2 * _BIN, "circ": 0.5 + 2 * _BIN, "odot": 0.78 + 2 * _BIN,
    "otimes": 0.78 + 2 * _BIN, "setminus": 0.5 + 2 * _BIN,
    "lVert": 0.5, "rVert": 0.5, "|": 0.5, "lvert": 0.28, "rvert": 0.28, "vert": 0.28, "Vert": 0.5,
    "langle": 0.39, "rangle": 0.39, "lbrace": 0.5, "rbrace": 0.5, "{": 0.5, "}": 0.5,
    "ldots": 1.17, "cdots": 1.17, "dots": 1.17, "vdots": 0.28, "ddots": 1.0,
    "quad": 1.0, "qquad": 2.0, ",": 0.17, ":": 0.22, ";": 0.28, "!": -0.17, " ": 0.25,
    "mid": 0.28 + 2 * _REL, "doteq": 0.78 + 2 * _REL, "approx": 0.78 + 2 * _REL, "propto": 0.78 + 2 * _REL,
    "leq": 0.78 + 2 * _REL, "geq": 0.78 + 2 * _REL, "le": 0.78 + 2 * _REL, "ge": 0.78 + 2 * _REL,
    "neq": 0.78 + 2 * _REL, "sim": 0.78 + 2 * _REL, "equiv": 0.78 + 2 * _REL, "in": 0.67 + 2 * _REL,
    "leftarrow": 1.0 + 2 * _REL, "rightarrow": 1.0 + 2 * _REL, "to": 1.0 + 2 * _REL,
    "gets": 1.0 + 2 * _REL, "Rightarrow": 1.0 + 2 * _REL, "Leftarrow": 1.0 + 2 * _REL,
    "Longrightarrow": 1.64 + 2 * _REL, "Leftrightarrow": 1.0 + 2 * _REL, "iff": 1.64 + 2 * _REL,
    "mapsto": 1.0 + 2 * _REL, "ll": 1.0 + 2 * _REL, "gg": 1.0 + 2 * _REL, "coloneqq": 1.1 + 2 * _REL,
    "displaystyle": 0.0, "textstyle": 0.0, "scriptstyle": 0.0, "nonumber": 0.0, "limits": 0.0,
    "left": 0.0, "right": 0.0,
}
_FUNCS = {"log", "exp", "ln", "sin", "cos", "tan", "tanh", "sinh", "cosh", "det", "max", "min", "arg",
          "sup", "inf", "lim", "Pr", "dim", "ker", "sign", "argmax", "argmin"}
_LIMITS = {"sum", "prod", "max", "min", "lim", "sup", "inf", "underbrace", "overbrace", "argmax", "argmin"}
_SIZES = {"big", "Big", "bigg", "Bigg", "bigl", "Bigl", "biggl", "Biggl", "bigr", "Bigr", "biggr", "Biggr",
          "bigm", "Bigm", "left", "right"}
_FONTS = {"mathbb": 0.72, "mathcal": 0.75, "mathbf": 0.6, "boldsymbol": 0.6, "mathrm": 0.5, "mathit": 0.52,
          "operatorname": 0.5, "text": 0.5, "textrm": 0.5, "mathsf": 0.5, "mathtt": 0.52, "textbf": 0.55,
          "textit": 0.5, "mbox": 0.5}
_ACCENTS = {"hat", "bar", "tilde", "widehat", "widetilde", "overline", "underline", "vec", "dot", "ddot",
            "check", "breve", "mathring", "phantom", "boxed", "color"}
_RELCHARS = {"=": 0.78 + 2 * _REL, "<": 0.78 + 2 * _REL, ">": 0.78 + 2 * _REL, ":": 0.28 + 2 * _REL}
_CHAR = {"(": 0.39, ")": 0.39, "[": 0.28, "]": 0.28, "|": 0.28, "/": 0.5, "'": 0.28, "*": 0.5, "!": 0.28,
         ".": 0.28, ",": 0.28 + 0.17, ";": 0.28 + 0.17, "~": 0.25, "?": 0.47}
_WIDE_LETTERS = {"m": 0.88, "w": 0.72, "M": 0.97, "W": 1.05, "i": 0.35, "j": 0.41, "l": 0.3, "f": 0.49}


class _Parser:
    """A small recursive reader of LaTeX that adds up typeset widths (em)."""

    def __init__(self, tex: str):
        self.s, self.i = tex, 0

    def peek(self) -> str:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1
        return self.s[self.i] if self.i < len(self.s) else ""

    def command(self) -> str:
        j = self.i + 1
        if j < len(self.s) and self.s[j].isalpha():
            while j < len(self.s) and self.s[j].isalpha():
                j += 1
        else:
            j += 1
        name, self.i = self.s[self.i + 1:j], j
        return name

    def raw_group(self) -> str:
        """The text of the next ``{...}`` group (or the next single token)."""
        if self.peek() == "{":
            depth, start = 0, self.i
            while self.i < len(self.s):
                ch = self.s[self.i]
                if ch == "\\":
                    self.i += 2
                    continue
                depth += ch == "{"
                depth -= ch == "}"
                self.i += 1
                if depth == 0:
                    return self.s[start + 1:self.i - 1]
            return self.s[start + 1:]
        if self.peek() == "\\":
            start = self.i
            self.command()
            return self.s[start:self.i]
        ch = self.s[self.i:self.i + 1]
        self.i += len(ch)
        return ch

    def delimiter(self) -> float:
        """Width of the delimiter after ``\\left``, ``\\Big`` and the like."""
        if self.peek() == "\\":
            name = self.command()
            return 0.5 if name in ("{", "}", "lVert", "rVert", "|", "Vert") else 0.39
        ch = self.s[self.i:self.i + 1]
        self.i += 1
        return 0.12 if ch == "." else 0.45

    def sequence(self, scale: float, frac_depth: int, stop: str = "") -> float:
        total, operand, last_script, limits_base = 0.0, False, 0.0, None
        while self.i < len(self.s):
            ch = self.peek()
            if not ch or ch in stop:
                break
            if ch == "}":
                self.i += 1
                break
            if ch in "^_":
                self.i += 1
                inner = _Parser(self.raw_group()).sequence(scale * _SCRIPT, frac_depth + 1)
                if limits_base is not None:            # limits go under/over: width of the wider
                    grow = max(0.0, inner - limits_base)
                    limits_base = max(limits_base, inner)
                    total += grow
                else:
                    total += max(0.0, inner - last_script)
                    last_script = max(last_script, inner)
                continue
            last_script = 0.0
            limits_base = None
            if ch == "{":
                self.i += 1
                total += self.sequence(scale, frac_depth)
                operand = True
            elif ch == "\\":
                start = self.i
                name = self.command()
                if name in ("frac", "dfrac", "tfrac", "binom"):
                    inner = scale if frac_depth == 0 and name != "tfrac" else scale * _SCRIPT
                    num = _Parser(self.raw_group()).sequence(inner, frac_depth + 1)
                    den = _Parser(self.raw_group()).sequence(inner, frac_depth + 1)
                    total += max(num, den) + 0.24 * scale
                    operand = True
                elif name == "sqrt":
                    if self.peek() == "[":
                        self.i = self.s.index("]", self.i) + 1
                    total += _Parser(self.raw_group()).sequence(scale, frac_depth) + 0.85 * scale
                    operand = True
                elif name in _SIZES:
                    total += self.delimiter() * scale
                    operand = name.startswith("right") or name.endswith("r") and name != "bigr" or operand
                elif name == "begin":
                    total += self.environment(start, scale, frac_depth)
                    operand = True
                elif name in _FONTS:
                    body = self.raw_group()
                    letters = len(re.sub(r"\\[a-zA-Z]+|[{}\\]", "x", body).replace(" ", "")) if name not in (
                        "text", "textrm", "mbox", "textbf", "textit") else len(body.replace("$", ""))
                    total += _FONTS[name] * letters * scale + (0.17 * scale if name == "operatorname" else 0)
                    operand = True
                elif name in _ACCENTS:
                    total += _Parser(self.raw_group()).sequence(scale, frac_depth) if name != "color" else (
                        self.raw_group() and 0.0)
                    operand = True
                elif name in _FUNCS:
                    total += (0.5 * len(name) + 0.17) * scale
                    operand = True
                    if name in _LIMITS:
                        limits_base = 0.5 * len(name) * scale
                elif name in ("\\", "cr"):
                    break
                else:
                    w = _WIDTH.get(name, 0.6)
                    total += w * scale
                    operand = name not in _WIDTH or w < 0.9 and name not in ("cdot",)
                    if name in _LIMITS:
                        limits_base = w * scale
            else:
                self.i += 1
                if ch in "+-":
                    total += (0.78 + (2 * _BIN if operand and scale == 1.0 else 0.0)) * scale
                    operand = False
                elif ch in _RELCHARS:
                    total += (_RELCHARS[ch] if scale == 1.0 else 0.78) * scale
                    operand = False
                elif ch == "&":
                    continue
                elif ch.isalpha():
                    total += _WIDE_LETTERS.get(ch, 0.75 if ch.isupper() else 0.52) * scale
                    operand = True
                elif ch.isdigit():
                    total += 0.5 * scale
                    operand = True
                else:
                    total += _CHAR.get(ch, 0.5) * scale
                    operand = ch in ")]|!'"
        return total

    def environment(self, start: int, scale: float, frac_depth: int) -> float:
        """Width of ``\\begin{env} ... \\end{env}``: its widest row (cells side by side)."""
        env = self.raw_group()
        if env in ("array", "tabular"):
            self.raw_group()
        body_start, depth, j = self.i, 1, self.i
        pattern = re.compile(r"\\(begin|end)\{[^{}]*\}")
        for m in pattern.finditer(self.s, self.i):
            depth += 1 if m.group(1) == "begin" else -1
            if depth == 0:
                body, self.i = self.s[body_start:m.start()], m.end()
                break
        else:
            body, self.i = self.s[body_start:], len(self.s)
        gap = 0.0 if env in ("aligned", "split", "align", "alignedat") else 1.0
        columns: list[float] = []                      # the widest cell of each column
        for row in _split_top(body, r"\\"):
            row = re.sub(r"^\[[^\]]*\]", "", row.strip())
            for k, cell in enumerate(_split_top(row, "&")):
                w = _Parser(cell).sequence(scale, frac_depth)
                columns += [0.0] * (k + 1 - len(columns))
                columns[k] = max(columns[k], w)
        return sum(columns) + gap * max(0, len(columns) - 1) + (0.0 if gap == 0 else 0.4 * scale)


def typeset_em(tex: str) -> float:
    """Estimated width in em of ``tex`` typeset in a display (see the module docstring)."""
    if not isinstance(tex, str):
        raise TypeError(f"tex must be a str, not {type(tex).__name__}")
    return _Parser(tex).sequence(1.0, 0)


# --------------------------------------------------------------------------- scanning

def _depths(tex: str) -> list[int]:
    """Group depth at each character (braces, brackets, parentheses, ``\\left``/``\\right``,
    environments); a bracket, and a command, has the depth outside it. A bracket with no partner
    in ``tex`` (a row of an opened ``\\Big[ ... \\Big]``) opens or closes nothing."""
    tokens, i, n = [], 0, len(tex)                     # (start, end, +1 open / -1 close / 0)
    while i < n:
        if tex.startswith(r"\left", i) and not tex[i + 5:i + 6].isalpha():
            k = 7 if tex[i + 5:i + 6] == "\\" else 6
            tokens.append((i, i + k, 1))
        elif tex.startswith(r"\right", i) and not tex[i + 6:i + 7].isalpha():
            k = 8 if tex[i + 6:i + 7] == "\\" else 7
            tokens.append((i, i + k, -1))
        elif m := re.match(r"\\(begin|end)\{[^{}]*\}", tex[i:]):
            k = m.end()
            tokens.append((i, i + k, 1 if m.group(1) == "begin" else -1))
        elif tex[i] == "\\":
            k = 1
            while i + k < n and tex[i + k].isalpha():
                k += 1
            k = max(k, 2)
            tokens.append((i, i + k, 0))
        else:
            k = 1
            tokens.append((i, i + 1, 1 if tex[i] in "{([" else -1 if tex[i] in "})]" else 0))
        i += k
    kinds, stack = [t[2] for t in tokens], []
    for t, kind in enumerate(kinds):
        if kind == 1:
            stack.append(t)
        elif kind == -1:
            if stack:
                stack.pop()
            else:
                kinds[t] = 0                           # a closer with no opener here
    for t in stack:
        kinds[t] = 0                                   # an opener with no closer here
    out, depth = [0] * n, 0
    for (a, b, _), kind in zip(tokens, kinds):
        if kind == -1:
            depth -= 1
        out[a:b] = [depth] * (b - a)
        if kind == 1:
            depth += 1
    return out


def _split_top(tex: str, sep: str) -> list[str]:
    """``tex`` split at every top-level occurrence of ``sep`` (``&`` or ``\\\\``)."""
    parts, start, depth, i = [], 0, 0, 0
    while i < len(tex):
        if tex.startswith(sep, i) and depth == 0:
            parts.append(tex[start:i])
            i += len(sep)
            start = i
            continue
        if tex.startswith(r"\begin", i) or tex.startswith("{", i):
            depth += 1
        elif tex.startswith(r"\end", i) or tex.startswith("}", i):
            depth -= 1
        i += 2 if tex[i] == "\\" and not tex.startswith(sep, i) and i + 1 < len(tex) and not tex[i + 1].isalpha() else 1
    parts.append(tex[start:])
    return parts


#: Where a row may break (before the match): relations, a ", \\qquad" between equations, a note
#: (``\\quad\\text{...}``, ``\\ \\text{...}``, a parenthesis after ``\\quad``).
_RELATIONS = re.compile(r",\s*\\qquad|,\s*\\quad|\\quad\s*\\Longrightarrow\s*\\quad|\\quad\s*\\text\{|"
                        r"\\quad\s*\(|,?\\ \s*(?=\\text\{)|"
                        r"\\;\\Rightarrow\\;|=|\\doteq|\\approx|\\leq?(?![a-zA-Z])|\\geq?(?![a-zA-Z])|"
                        r"\\neq?(?![a-zA-Z])|\\leftarrow|\\Longrightarrow|\\propto")


def _relation_cuts(tex: str) -> list[int]:
    """Positions of the top-level relations of ``tex`` (where a row may break before a relation)."""
    depth = _depths(tex)
    cuts = []
    for m in _RELATIONS.finditer(tex):
        k = m.start()
        if m.group(0).startswith(","):
            k += 1                                     # keep the comma on the row before
        if m.group(0).lstrip(",").startswith("\\ "):
            k = m.end()                                # and the space before a note's text
        if k > 0 and depth[m.start()] == 0:
            cuts.append(k)
    return [c for c in cuts if tex[:c].strip()]


#: What a sign right after is unary, not a break: an operator, a relation, an opening, spacing.
_UNARY_AFTER = re.compile(r"([-+=<>(,;:&\[^_]|\\(doteq|leq?|geq?|neq?|leftarrow|rightarrow|gets|to|mapsto|cdot|times|"
                          r"pm|mp|mid|sim|in|Longrightarrow|Rightarrow|approx|propto|;|:|,|q?quad))$")


def _term_cuts(tex: str) -> list[int]:
    """Positions of the top-level binary ``+``/``-`` signs of ``tex``."""
    depth = _depths(tex)
    cuts = []
    for i, ch in enumerate(tex):
        if ch in "+-" and depth[i] == 0:
            before = tex[:i].rstrip()
            if before and not _UNARY_AFTER.search(before):
                cuts.append(i)
    return cuts


def _pack(pieces: list[str], avail: float) -> list[str]:
    """Consecutive pieces packed greedily into rows no wider than ``avail`` em."""
    rows, row = [], ""
    for piece in pieces:
        if row and typeset_em(row + " " + piece) > avail:
            rows.append(row)
            row = piece
        else:
            row = (row + " " + piece) if row else piece
    rows.append(row)
    return rows


def _cut(tex: str, cuts: list[int]) -> list[str]:
    bounds = [0] + cuts + [len(tex)]
    return [tex[a:b].strip() for a, b in zip(bounds, bounds[1:]) if tex[a:b].strip()]


# --------------------------------------------------------------------------- breaking

def _by_relations(row: str, avail: float):
    pieces = _cut(row, _relation_cuts(row))
    return [(0, r) for r in _pack(pieces, avail)] if len(pieces) > 1 else None


def _by_terms(row: str, avail: float):
    pieces = _cut(row, _term_cuts(row))
    return [(0, r) for r in _pack(pieces, avail)] if len(pieces) > 1 else None


_OPEN = re.compile(r"\\left\s*(\(|\[|\\\{|\\lbrace)|\\[Bb]ig{1,2}l?\s*(\(|\[)")


def _groups(row: str):
    """Top-level bracket groups of ``row``: (start, inner start, inner end, end, opener, closer)."""
    depth = _depths(row)
    for m in _OPEN.finditer(row):
        if depth[m.start()]:
            continue
        sized = not m.group(0).startswith(r"\left")
        level, i = 0, m.end()
        close = re.compile(r"\\left\b|\\right\s*(\)|\]|\\\}|\\rbrace|\.)|\\[Bb]ig{1,2}r?\s*(\)|\])" if sized
                           else r"\\left\b|\\right\s*(\)|\]|\\\}|\\rbrace|\.)")
        pattern = re.compile(r"\\[Bb]ig{1,2}l?\s*[(\[]|" + close.pattern) if sized else close
        for c in pattern.finditer(row, i):
            text = c.group(0)
            opening = text.startswith(r"\left") or (sized and re.match(r"\\[Bb]ig{1,2}l?\s*[(\[]", text)
                                                    and not re.match(r"\\[Bb]ig{1,2}r", text))
            if opening and not text.startswith(r"\right"):
                level += 1
                continue
            if level:
                level -= 1
                continue
            yield m.start(), m.end(), c.start(), c.end(), m.group(1) or m.group(2), text
            break


def _delims(opener: str, closer_text: str, rows: list[str]) -> tuple[str, str]:
    size = "bigg" if any(r"\frac" in r or r"\sum" in r or r"\prod" in r for r in rows) else "Big"
    closer = re.sub(r"^\\(right|[Bb]ig{1,2}r?)\s*", "", closer_text)
    opener = {r"\lbrace": r"\{"}.get(opener, opener)
    closer = {r"\rbrace": r"\}"}.get(closer, closer)
    return rf"\{size}l{opener} ", rf" \{size}r{closer}"


def _by_group(row: str, avail: float):
    """Open the top-level bracket whose sum is widest: ``f \\Bigl( a`` / ``+ b`` / ``c \\Bigr) g``."""
    best = None
    for start, inner_start, inner_end, end, opener, closer in _groups(row):
        inner = row[inner_start:inner_end]
        splits = len(_cut(inner, _term_cuts(inner))) > 1 or len(_cut(inner, _relation_cuts(inner))) > 1
        key = (splits, typeset_em(inner))              # a sum first, else the widest (opened inside)
        if best is None or key > best[0]:
            best = (key, start, inner_start, inner_end, end, opener, closer)
    if best is None:
        return None
    _, start, inner_start, inner_end, end, opener, closer = best
    prefix, inner, suffix = row[:start].rstrip(), row[inner_start:inner_end], row[end:].lstrip()
    head = typeset_em(prefix) + 1.0
    alone = head > avail / 3                           # a long prefix gets a row of its own
    rows = fit_row(inner, max(6.0, avail - 2.0 - (0.0 if alone else head)))
    if len(rows) == 1 and not alone:
        return None
    left, right = _delims(opener, closer, [r for _, r in rows])
    out = [(ind + (0 if k == 0 and not alone else 1), r) for k, (ind, r) in enumerate(rows)]
    if alone:
        out.insert(0, (0, (prefix + " " if prefix else "") + left.rstrip()))
    else:
        out[0] = (0, (prefix + " " if prefix else "") + left + out[0][1])
    out[-1] = (out[-1][0], out[-1][1] + right + (" " + suffix if suffix else ""))
    return out


_FRAC = re.compile(r"\\[dt]?frac(?![a-zA-Z])")


def _by_fraction(row: str, avail: float):
    """Stack the numerator (and denominator) of the widest fraction too wide for the row."""
    best = None
    for m in _FRAC.finditer(row):
        p = _Parser(row)
        p.i = m.end()
        a0 = p.i
        num = p.raw_group()
        den = p.raw_group()
        w = max(typeset_em(num), typeset_em(den))
        if w > avail * 0.9 and (best is None or w > best[0]):
            best = (w, m.start(), a0, p.i, num, den)
    if best is None:
        return None
    _, start, a0, end, num, den = best
    parts = []
    for half in (num, den):
        rows = fit_row(half, max(6.0, avail - 2.0)) if typeset_em(half) > avail * 0.9 else [(0, half)]
        parts.append(half if len(rows) == 1 else r"\begin{aligned}" + r" \\ ".join(
            "&" + r"\quad " * (0 if k == 0 else max(ind, 1)) + ("{} " if k and r[:1] in "+-" else "") + r
            for k, (ind, r) in enumerate(rows))
            + r"\end{aligned}")
    if parts == [num, den]:
        return None
    new = row[:start] + row[start:a0] + "{" + parts[0] + "}{" + parts[1] + "}" + row[end:]
    return [(0, new)]


_TEXT = re.compile(r"\\text\{((?:[^{}$]|\$[^$]*\$)*)\}")


def _by_text(row: str, avail: float):
    """A ``\\text{...}`` note wider than the row, cut between words into notes of their own."""
    for m in _TEXT.finditer(row):
        if typeset_em(m.group(0)) <= avail * 0.8:
            continue
        words = re.findall(r"(?:\$[^$]*\$|\S)+", m.group(1))
        chunks = _pack([r"\text{" + w + "}" for w in words], avail * 0.8)
        chunks = [re.sub(r"\}\s*\\text\{", " ", c) for c in chunks]
        if len(chunks) < 2:
            continue
        before = row[:m.start()].strip()
        if not re.sub(r"\\q?quad|\s", "", before):      # only spacing before the note: keep it
            chunks[0], before = before + chunks[0], ""
        out = ([(0, before)] if before else []) + [(1 if before or k else 0, c) for k, c in enumerate(chunks)]
        out[-1] = (out[-1][0], out[-1][1] + row[m.end():])
        return out
    return None


def fit_row(row: str, avail: float = LINE_EM, _depth: int = 0) -> list[tuple[int, str]]:
    """``row`` as rows ``(indent, latex)`` no wider than ``avail`` em where a break can make them
    so (a row that fits is returned as it is). ``indent`` counts continuation levels inside opened
    brackets; the rows put back together are ``row`` with only line markup added."""
    if not isinstance(row, str):
        raise TypeError(f"row must be a str, not {type(row).__name__}")
    avail = max(avail, 6.0)
    if typeset_em(row) <= avail or _depth > 12:
        return [(0, row)]
    for breaker in (_by_relations, _by_terms, _by_group, _by_fraction, _by_text):
        parts = breaker(row, avail)
        if parts is None or (len(parts) == 1 and (parts[0][1] == row or breaker is not _by_fraction)):
            continue
        if breaker is _by_fraction:
            return parts
        out = []
        for ind, part in parts:
            sub = fit_row(part, avail - ind, _depth + 1) if typeset_em(part) > avail - ind else [(0, part)]
            out += [(ind + i2, r) for i2, r in sub]
        return out
    return [(0, row)]


_MARKUP = re.compile(r"\\begin\{aligned\}|\\end\{aligned\}|\\\\(\[[^\]]*\])?|&|\\q?quad\b|\\phantom\{=\}|\{\}|"
                     r"\\(left|right|[Bb]igg?[lr]?)(?![a-zA-Z])|\\displaystyle")


def strip_layout(tex: str) -> list[str]:
    """The tokens of ``tex`` with the layout markup removed (row breaks, alignment, spacing quads,
    empty operands ``{}``, delimiter sizes): two LaTeX strings with equal tokens typeset the same
    mathematics."""
    tex = _MARKUP.sub(" ", tex)
    return re.findall(r"\\[a-zA-Z]+|\\.|\S", tex)
