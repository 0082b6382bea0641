//! The `match.regex` patterns of `message` rules: compiled once, matched many at a time.
//!
//! A [`Pattern`] is parsed and compiled to a forward NFA once, when its rule is validated, with
//! the same syntax and the same size limit as the `regex` crate (it is `regex`'s own engine,
//! `regex-automata`, without the parts a lone `Regex` builds besides: a reverse NFA, a literal
//! prefilter, one-pass and full DFAs). The rule's examples run on it with a PikeVM.
//!
//! Why not one `RegexSet` of every pattern: its lazy DFA tracks all patterns at once, so with
//! 1,000 patterns each DFA state is a set of thousands of NFA states, and a message whose
//! digits or words the cache has not seen yet builds new states at that cost on every byte
//! (~50 µs per message; with the default 2 MiB cache it gives up and runs a PikeVM over all
//! patterns, ~800 µs). The set also compiled every pattern a second time (~1 s for 1,000).
//! [`Patterns`] instead extracts each pattern's prefix literals (every match starts with one
//! of them), finds them all in one Aho-Corasick pass, and runs only the patterns whose literal
//! occurs, anchored where it occurs, each with a PikeVM on the NFA validation compiled: a few
//! NFA states per byte, nothing to warm up. Patterns without a usable prefix literal (`\d{5}`,
//! `.*x`) stay in one smaller overlapping set (lazy DFA, PikeVM where it cannot go on: a
//! Unicode `\b` next to a non-ASCII character), which is the fast path they always had.

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::hybrid::dfa::{Cache as DfaCache, DFA};
use regex_automata::nfa::thompson::pikevm::{Cache as VmCache, PikeVM};
use regex_automata::nfa::thompson::{self, NFA, WhichCaptures};
use regex_automata::util::pool::Pool;
use regex_automata::util::syntax;
use regex_automata::{Anchored as AnchoredAt, Input, PatternSet};
use regex_syntax::hir::Hir;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Prefix literals shorter than this occur in almost every message: such a pattern is
/// matched with the overlapping set instead.
const MIN_LITERAL_LEN: usize = 3;

/// Below this fraction of the size limit, forward NFAs are small enough that their reverse
/// ones (at most ~3x larger) fit the limit too, and are not built to check.
const REVERSE_CHECK_FACTOR: usize = 8;

/// One supervisor's regex, compiled.
#[derive(Clone)]
pub(super) struct Pattern {
    hir: Arc<Hir>,
    nfa: NFA,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pattern")
            .field(&self.hir.to_string())
            .finish()
    }
}

/// Compile `hirs` into one forward NFA; errors read as the `regex` crate's.
fn compile(hirs: &[&Hir], size_limit: usize) -> Result<NFA, regex::Error> {
    thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .nfa_size_limit(Some(size_limit))
                .which_captures(WhichCaptures::Implicit),
        )
        .build_many_from_hir(hirs)
        .map_err(|e| match e.size_limit() {
            Some(limit) => regex::Error::CompiledTooBig(limit),
            None => regex::Error::Syntax(e.to_string()),
        })
}

impl Pattern {
    /// Parse and compile `pattern` with a compiled-size limit of `size_limit` bytes; errors
    /// are the `regex` crate's, so they read the same.
    pub fn new(pattern: &str, size_limit: usize) -> Result<Pattern, regex::Error> {
        let hir = syntax::parse(pattern).map_err(|e| regex::Error::Syntax(e.to_string()))?;
        let nfa = compile(&[&hir], size_limit)?;
        Ok(Pattern {
            hir: Arc::new(hir),
            nfa,
        })
    }

    /// The compiled size in bytes (what the size limits count).
    pub fn compiled_size(&self) -> usize {
        self.nfa.memory_usage()
    }

    /// Whether the pattern matches every text: it can match the empty string and has no
    /// assertion (`^`, `$`, `\b`, …), so it matches at the start of anything.
    pub fn matches_everything(&self) -> bool {
        let props = self.hir.properties();
        props.minimum_len() == Some(0) && props.look_set().is_empty()
    }

    /// Whether the pattern matches no text at all (an empty class such as `[^\s\S]`).
    pub fn matches_nothing(&self) -> bool {
        self.hir.properties().minimum_len().is_none()
    }

    /// Whether `text` contains a match (for examples: a PikeVM, nothing to warm up).
    pub fn is_match(&self, text: &str) -> bool {
        PikeVM::new_from_nfa(self.nfa.clone()).is_ok_and(|vm| {
            let mut cache = vm.create_cache();
            vm.is_match(&mut cache, text)
        })
    }

    /// Literals (ASCII lowercased, deduplicated) one of which every match starts with, or
    /// `None` when there are none useful for finding candidates.
    fn prefix_literals(&self) -> Option<Vec<Vec<u8>>> {
        let seq = Extractor::new()
            .kind(ExtractKind::Prefix)
            .extract(&self.hir);
        let mut literals: Vec<Vec<u8>> = seq
            .literals()?
            .iter()
            .map(|l| l.as_bytes().to_ascii_lowercase())
            .collect();
        if literals.is_empty() || literals.iter().any(|l| l.len() < MIN_LITERAL_LEN) {
            return None;
        }
        literals.sort_unstable();
        literals.dedup();
        Some(literals)
    }
}

/// Patterns matched one at a time, each anchored where its literal occurs, on its own NFA
/// with a PikeVM: nothing to warm up, and the NFA is the one validation compiled. Scratch
/// space comes from a pool (one per thread at a time, as in the `regex` crate), created per
/// pattern on its first use.
struct Anchored {
    vms: Vec<PikeVM>,
    caches: Pool<Vec<Option<VmCache>>, NewCaches>,
}

type NewCaches = Box<dyn Fn() -> Vec<Option<VmCache>> + Send + Sync>;

impl Anchored {
    fn new(patterns: &[&Pattern]) -> Option<Anchored> {
        let vms = patterns
            .iter()
            .map(|p| PikeVM::new_from_nfa(p.nfa.clone()).ok())
            .collect::<Option<Vec<_>>>()?;
        let len = vms.len();
        let caches = Pool::new(
            Box::new(move || std::iter::repeat_with(|| None).take(len).collect())
                as Box<dyn Fn() -> _ + Send + Sync>,
        );
        Some(Anchored { vms, caches })
    }

    /// Whether pattern `id` matches starting exactly at `at`.
    fn matches_at(&self, text: &str, at: usize, id: usize) -> bool {
        let input = Input::new(text)
            .range(at..)
            .anchored(AnchoredAt::Yes)
            .earliest(true);
        let vm = &self.vms[id];
        let mut caches = self.caches.get();
        let cache = caches[id].get_or_insert_with(|| vm.create_cache());
        vm.is_match(cache, input)
    }
}

/// A lazy DFA with a PikeVM for where it gives up, and a pool of their caches (one per
/// thread at a time, as the `regex` crate does).
struct Engine {
    dfa: DFA,
    vm: PikeVM,
    caches: CachePool,
}

type CachePool = Pool<(DfaCache, VmCache), Box<dyn Fn() -> (DfaCache, VmCache) + Send + Sync>>;

impl Engine {
    fn new(hirs: &[&Hir], kind: regex_automata::MatchKind, size_limit: usize) -> Option<Engine> {
        let nfa = compile(hirs, size_limit).ok()?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(kind)
                    .unicode_word_boundary(true)
                    .cache_capacity(size_limit),
            )
            .build_from_nfa(nfa.clone())
            .ok()?;
        let vm = PikeVM::builder()
            .configure(PikeVM::config().match_kind(kind))
            .build_from_nfa(nfa)
            .ok()?;
        let (d, v) = (dfa.clone(), vm.clone());
        let caches: CachePool = Pool::new(Box::new(move || (d.create_cache(), v.create_cache())));
        Some(Engine { dfa, vm, caches })
    }

    /// Every pattern that matches somewhere in `text`.
    fn which_match(&self, text: &str) -> PatternSet {
        let input = Input::new(text);
        let mut found = PatternSet::new(self.dfa.pattern_len());
        let mut caches = self.caches.get();
        let (dfa_cache, vm_cache) = &mut *caches;
        if self
            .dfa
            .try_which_overlapping_matches(dfa_cache, &input, &mut found)
            .is_err()
        {
            found.clear();
            self.vm
                .which_overlapping_matches(vm_cache, &input, &mut found);
        }
        found
    }
}

/// The patterns of all `message` rules of a set; pattern `i` belongs to the caller's `i`th
/// regex.
#[derive(Clone)]
pub(super) struct Patterns(Arc<Inner>);

struct Inner {
    /// Every prefix literal of the patterns that have them (ASCII case-insensitive).
    literals: Option<AhoCorasick>,
    /// Literal `l` starts the patterns `literal_owner[l]` (pattern ids of `anchored`).
    literal_owner: Vec<Vec<usize>>,
    /// Patterns found through their literals; its pattern `j` is pattern `anchored_index[j]`.
    anchored: Anchored,
    anchored_index: Vec<usize>,
    /// Patterns without a useful literal, matched together; its pattern `j` is pattern
    /// `unanchored_index[j]`.
    unanchored: Option<Engine>,
    unanchored_index: Vec<usize>,
}

impl std::fmt::Debug for Patterns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patterns")
            .field("anchored", &self.0.anchored_index.len())
            .field("unanchored", &self.0.unanchored_index.len())
            .finish()
    }
}

/// The patterns together exceed the compiled-size limit.
#[derive(Debug)]
pub(super) struct TooLarge;

impl Patterns {
    /// Index `patterns`. Their compiled size together may be at most `size_limit` bytes, as
    /// for one `RegexSet` of them all.
    pub fn new(patterns: &[&Pattern], size_limit: usize) -> Result<Patterns, TooLarge> {
        let forward: usize = patterns.iter().map(|p| p.nfa.memory_usage()).sum();
        if forward > size_limit {
            return Err(TooLarge);
        }
        // A `RegexSet` also built a reverse NFA under the same limit, and refused sets whose
        // reverse NFA alone was too large (Unicode classes grow up to ~3x reversed). Keep that
        // refusal: when the forward NFAs are large enough for it to matter, compile the
        // reverse one as the set did, only to measure it.
        if forward > size_limit / REVERSE_CHECK_FACTOR {
            let hirs: Vec<&Hir> = patterns.iter().map(|p| p.hir.as_ref()).collect();
            thompson::Compiler::new()
                .configure(
                    thompson::Config::new()
                        .nfa_size_limit(Some(size_limit))
                        .which_captures(WhichCaptures::None)
                        .reverse(true)
                        .shrink(false),
                )
                .build_many_from_hir(&hirs)
                .map_err(|_| TooLarge)?;
        }
        let mut literal_ids = HashMap::<Vec<u8>, usize>::new();
        let mut literal_list = Vec::new();
        let mut literal_owner: Vec<Vec<usize>> = Vec::new();
        let (mut anchored, mut anchored_index) = (Vec::new(), Vec::new());
        let (mut unanchored, mut unanchored_index) = (Vec::new(), Vec::new());
        for (i, pattern) in patterns.iter().enumerate() {
            let Some(literals) = pattern.prefix_literals() else {
                unanchored.push(pattern.hir.as_ref());
                unanchored_index.push(i);
                continue;
            };
            let id = anchored.len();
            anchored.push(*pattern);
            anchored_index.push(i);
            for literal in literals {
                let slot = *literal_ids.entry(literal).or_insert_with_key(|literal| {
                    literal_list.push(literal.clone());
                    literal_owner.push(Vec::new());
                    literal_list.len() - 1
                });
                literal_owner[slot].push(id);
            }
        }
        let literals = match literal_list.is_empty() {
            true => None,
            false => Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&literal_list)
                    .map_err(|_| TooLarge)?,
            ),
        };
        let unanchored = match unanchored.is_empty() {
            true => None,
            false => Some(
                Engine::new(&unanchored, regex_automata::MatchKind::All, size_limit)
                    .ok_or(TooLarge)?,
            ),
        };
        Ok(Patterns(Arc::new(Inner {
            literals,
            literal_owner,
            anchored: Anchored::new(&anchored).ok_or(TooLarge)?,
            anchored_index,
            unanchored,
            unanchored_index,
        })))
    }

    /// The indices of the patterns `text` matches, sorted.
    pub fn matches(&self, text: &str) -> Vec<usize> {
        let inner = &*self.0;
        let mut hits = Vec::new();
        if let Some(ac) = &inner.literals {
            let mut matched = vec![false; inner.anchored_index.len()];
            for found in ac.find_overlapping_iter(text) {
                for &id in &inner.literal_owner[found.pattern().as_usize()] {
                    // Every match starts with a prefix literal: try the one found here.
                    if !matched[id] && inner.anchored.matches_at(text, found.start(), id) {
                        matched[id] = true;
                        hits.push(inner.anchored_index[id]);
                    }
                }
            }
        }
        if let Some(engine) = &inner.unanchored {
            let found = engine.which_match(text);
            hits.extend(found.iter().map(|p| inner.unanchored_index[p.as_usize()]));
        }
        hits.sort_unstable();
        hits
    }
}
