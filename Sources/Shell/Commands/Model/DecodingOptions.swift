import FlrGenerate
import FlrTokenizer
import Foundation

// The decoding options `caption`, `sample` and `compare` share (transformers `generate`'s controls under
// shell names), and how they become the generator's settings. `set` gives them session defaults; `show
// settings` lists the ones in force.

enum DecodingOptions {
  static let options: [OptionSpec] = [
    OptionSpec("beams", .int(1...64), default: .int(3), "Beam width; 1 is greedy search (or sampling with sample)"),
    OptionSpec("max_tokens", .int(1...4096), default: .int(75), "Most new tokens per caption (max_new_tokens)"),
    OptionSpec("min_tokens", .int(0...4096), default: .int(0), "No </s> before this many new tokens (min_new_tokens)"),
    OptionSpec(
      "repetition_penalty", .float(0.01...100), default: .float(1),
      "Tokens already in the caption score /p (x p when negative); above 1 discourages repeats, 1 is off"),
    OptionSpec(
      "length_penalty", .float(-100...100), default: .float(1),
      "Beam search ranks finished captions by sum log p / length^p; larger favours longer captions"),
    OptionSpec(
      "no_repeat_ngram", .int(0...64),
      "No n-gram of this size twice in a caption (default: the model's no_repeat_ngram_size, 3; 0 is off)"),
    OptionSpec(
      "bad_words", .string,
      "Comma-separated words never generated (bad_words_ids; each banned mid-caption and at its start, case as given)"),
    OptionSpec(
      "start", .string,
      "Caption start: decoding continues after this text, and each caption begins with it (\"A photo of\")"),
    .flag("sample", "Sample tokens (do_sample) instead of searching; beams=1"),
    OptionSpec("temperature", .float(0.01...100), default: .float(1), "With sample: scores / temperature"),
    OptionSpec("top_k", .int(0...1_000_000), default: .int(50), "With sample: keep the k likeliest tokens (0 = all)"),
    OptionSpec(
      "top_p", .float(0...1), default: .float(1),
      "With sample: keep the likeliest tokens whose probabilities reach p (1 = all)"),
    OptionSpec(
      "seed", .int(0...Int(UInt32.max)),
      "With sample: the i-th captioned image draws from seed+i (default: a random seed, printed)"),
  ]

  static let samplingOnly = ["temperature", "top_k", "top_p"]

  /// The generator's settings for these arguments. With `sample` and no seed a random seed is drawn and noted,
  /// so the run can be repeated.
  static func settings(_ a: Arguments, _ session: Session, loaded: LoadedModel, command: String) throws
    -> GenerationSettings
  {
    var s = loaded.generator.settings.with(maxNewTokens: a.int("max_tokens") ?? 75)
    let sample = a.flag("sample")
    let beamsChosen = a.given.contains("beams") || session.settings["beams"] != nil
    s.numBeams = sample && !beamsChosen ? 1 : a.int("beams") ?? 3
    if sample && s.numBeams != 1 {
      throw ShellError("\(command): sample draws one token per step: give beams=1 (or leave beams= out)")
    }
    s.minNewTokens = a.int("min_tokens") ?? 0
    s.repetitionPenalty = Float(a.double("repetition_penalty") ?? 1)
    s.lengthPenalty = a.double("length_penalty") ?? 1
    if let n = a.int("no_repeat_ngram") { s.noRepeatNgramSize = n }
    if let words = a.string("bad_words") { s.badWordsIds = badWordsIds(words, tokenizer: loaded.tokenizer) }
    if let start = a.string("start"), !start.isEmpty {
      s.decoderPrefix = try loaded.generator.decoderPrefix(captionStart: start)
    }
    if sample {
      let seed = a.int("seed") ?? Int.random(in: 0...Int(UInt32.max))
      if a.int("seed") == nil { session.note("\(command): sampling with seed=\(seed)") }
      s.sampling = GenerationSettings.Sampling(
        temperature: Float(a.double("temperature") ?? 1), topK: a.int("top_k") ?? 50, topP: a.double("top_p") ?? 1,
        seed: UInt64(seed))
    } else if let name = samplingOnly.first(where: { a.given.contains($0) }) {
      throw ShellError("\(command): \(name)= applies to sampling: add sample")
    }
    return s
  }

  /// Each word as it appears after a space (" cat") and at the start of a caption ("cat"), as token sequences.
  static func badWordsIds(_ text: String, tokenizer: BartTokenizer) -> [[Int32]] {
    var sequences: [[Int32]] = []
    for word in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !word.isEmpty {
      for form in [" " + word, word] {
        let ids = tokenizer.encode(form, addSpecialTokens: false).map(Int32.init)
        if !ids.isEmpty && !sequences.contains(ids) { sequences.append(ids) }
      }
    }
    return sequences
  }

  /// `show settings`: the decoding values in force for the three commands, `*` marking `set` ones.
  static func describe(_ session: Session) -> [String] {
    let unset = ["no_repeat_ngram": "model", "seed": "random", "bad_words": "none", "start": "none"]
    var lines = [""]
    for option in options {
      let value = session.settings[option.name] ?? option.defaultValue?.description ?? unset[option.name] ?? "-"
      let word = "\(option.name)=\(ShellWords.quote(value))\(session.settings[option.name] == nil ? "" : "*")"
      if !lines[lines.count - 1].isEmpty && lines[lines.count - 1].count + word.count > 100 { lines.append("") }
      lines[lines.count - 1] += (lines[lines.count - 1].isEmpty ? "" : " ") + word
    }
    return lines
  }
}

extension GenerationSettings {
  /// The settings for the images of a run from the `index`-th on: the sampling seed follows each image's place
  /// in the whole run, so batching does not change what it draws.
  func offsettingSeed(by index: Int) -> GenerationSettings {
    var s = self
    s.sampling?.seed &+= UInt64(index)
    return s
  }
}
