#!/usr/bin/env python3
"""Writes src/classify/lang_profiles.rs from whatlang's source."""
import re, sys
# Usage: python3 src/classify/gen-lang-profiles.py WHATLANG_SRC > src/classify/lang_profiles.rs && cargo fmt
# where WHATLANG_SRC is the crate's source, e.g.
# ~/.cargo/registry/src/index.crates.io-*/whatlang-0.18.0
W=sys.argv[1]
src=open(W+"/src/trigrams/profiles.rs",encoding='utf-8').read()
alpha_src=open(W+"/src/alphabets/latin.rs",encoding='utf-8').read()
latin=src[src.index("pub static LATIN_LANGS"):src.index("pub static CYRILLIC_LANGS")]
blocks=re.split(r"Lang::(\w+),",latin)[1:]
want=["Eng","Spa","Por","Fra","Deu","Ita","Nld"]
prof={}
for name,body in zip(blocks[0::2],blocks[1::2]):
    tris=re.findall(r"Trigram\('((?:\\'|[^'])+)', '((?:\\'|[^'])+)', '((?:\\'|[^'])+)'\)",body)
    prof[name]=["".join(c.replace("\\'","'") for c in t) for t in tris]
MIT = """
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
out=[]
out.append("//! The alphabets and trigram profiles of whatlang 0.18.0 for the seven")
out.append("//! languages the desk detects, copied from its `src/alphabets/latin.rs` and")
out.append("//! `src/trigrams/profiles.rs` by `src/classify/gen-lang-profiles.py`. Do not")
out.append("//! edit by hand: regenerate when whatlang is upgraded; `lang::tests` checks")
out.append("//! that the result still agrees with whatlang.")
out.append("//!")
out.append("//! whatlang (https://github.com/greyblake/whatlang-rs) is under the MIT")
out.append("//! licence, (c) Sergey Potapov, a derivative of Franc (MIT) by Titus Wormer:")
out.append("//!")
for line in MIT.strip().split("\n"):
    out.append(("//! "+line).rstrip())
out.append("")
out.append("/// Each language's alphabet, in the order of `lang::LANGUAGES`.")
out.append("pub(super) const ALPHABETS: [&str; 7] = [")
for w in want:
    m=re.search(r'const '+w.upper()+r': &str = "([^"]*)";',alpha_src)
    out.append('    "'+m.group(1)+'",')
out.append("];")
out.append("")
out.append("/// Each language's 300 most frequent trigrams, most frequent first, in the order of `lang::LANGUAGES`.")
out.append("pub(super) const PROFILES: [&[&str; 300]; 7] = [")
for w in want:
    t=prof[w]
    assert len(t)==300,(w,len(t))
    for x in t: assert len(x)==3,(w,x)
    out.append(f"    // {w}")
    out.append("    &[")
    for i in range(0,300,10):
        out.append("        "+" ".join('"'+x.replace('\\','\\\\').replace('"','\\"')+'",' for x in t[i:i+10]))
    out.append("    ],")
out.append("];")
sys.stdout.write("\n".join(out)+"\n")
