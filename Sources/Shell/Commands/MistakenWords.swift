import Foundation

// Words that are almost certainly a mistake rather than a path: a Python-style `--flag` (people coming from the
// reference scripts type `--save_captions`), or a word one edit away from one of the command's flags
// (`recursiv`) that names no file. Caught before they reach the command as "no such file or folder".

enum MistakenWords {
  /// The reference scripts' flag names (inference_florence.py, train_florence_peft.py) whose shell option has another
  /// name; the others are the same name without the dashes.
  static let pythonNames: [String: String] = [
    "save_captions": "save", "caption_extension": "ext", "max_token_length": "max_tokens", "batch_size": "batch",
    "learning_rate": "lr", "gradient_accumulation_steps": "accumulate", "optimizer_name": "optimizer",
    "output_dir": "out", "log_with": "log", "sample_every_n_epochs": "sample_every_epochs",
    "sample_every_n_steps": "sample_every_steps", "save_every_n_epochs": "save_every_epochs",
    "save_every_n_steps": "save_every_steps", "gradient_checkpointing": "checkpointing",
    "target_modules": "targets", "activation_checkpointing": "checkpointing", "peft_model": "adapter",
  ]

  /// The error for `word` given to `command` as a positional word, or nil when it may well be one. Free text
  /// (`echo`, `tokenize`, names) is never second-guessed.
  static func problem(_ word: String, command: Command) -> String? {
    if case .string? = command.positionals?.type { return nil }
    if word.hasPrefix("--"), word.count > 2 { return dashed(word, command: command) }
    guard case .path? = command.positionals?.type, !word.contains("/"),
      !FileManager.default.fileExists(atPath: expandTilde(word))
    else { return nil }
    let flags = command.options.filter { $0.type.isFlag }.map(\.name)
    guard let flag = flags.first(where: { editDistance(word, $0) == 1 }) else { return nil }
    return "no file or folder '\(word)'; did you mean the flag \(flag)? (a file of that name: ./\(word))"
  }

  /// `--save_captions`, `--batch_size=4`, `--max-tokens 40`: what the shell calls it.
  static func dashed(_ word: String, command: Command) -> String {
    let body = word.drop { $0 == "-" }
    let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
    let name = parts[0].replacingOccurrences(of: "-", with: "_")
    let value = parts.count > 1 ? String(parts[1]) : nil
    let candidates = [pythonNames[name], name].compactMap { $0 }
    let option =
      candidates.lazy.compactMap { command.option($0) }.first
      ?? closestMatch(to: name, among: command.options.map(\.name)).flatMap { command.option($0) }
    let advice = "flr's options have no dashes"
    guard let option else {
      return "unknown option '\(word)': \(advice) (`help \(command.name)` lists them; a file of that name: ./\(word))"
    }
    let written =
      option.type.isFlag && value == nil ? option.name : "\(option.name)=\(value ?? option.type.hint)"
    return "unknown option '\(word)': \(advice); did you mean \(written)?"
  }
}
