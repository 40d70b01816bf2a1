//! Fuzz targets of the normalizer (docs/fuzzing.md): indicators found in free text, personal data located in it,
//! and the whole normalization of a raw report, on generated incident prose, long adversarial text and mutated
//! reports.

mod extract;
mod normalize;
mod pii;
