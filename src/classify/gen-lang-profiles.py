import re,sys
# Usage: python3 src/classify/gen-lang-profiles.py WHATLANG_SRC > src/classify/lang_profiles.rs
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
out=[]
out.append("//! The alphabets and trigram profiles of whatlang 0.18.0 (MIT licence,")
out.append("//! (c) Serhii Potapov) for the seven languages the desk detects, copied from")
out.append("//! its `src/alphabets/latin.rs` and `src/trigrams/profiles.rs` by")
out.append("//! `src/classify/gen-lang-profiles.py`. Do not edit by")
out.append("//! hand: regenerate when whatlang is upgraded, and `lang::tests` checks the")
out.append("//! result still agrees with whatlang.")
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
print(sorted(prof.keys()),file=sys.stderr)
