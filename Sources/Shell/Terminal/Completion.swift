import CEdit
import FlrCheckpoints
import FlrTokenizer
import Foundation

// Tab completion, from the command declarations: command names first; then the command's option
// names (`beams=`, flags bare), positional paths or choices; after `key=` the option's values (paths,
// choices, task tokens). `candidates` is pure so it is tested without a terminal.

enum Completion {
  /// The session whose state completion may consult (set by the REPL).
  nonisolated(unsafe) static var session: Session?
  nonisolated(unsafe) private static var pending: [String] = []
  nonisolated(unsafe) private static var pendingIndex = 0

  /// Candidates for `word`, the text being completed, given the line up to the start of `word`.
  static func candidates(before: String, word: String) -> [String] {
    let statement = before.split(separator: ";", omittingEmptySubsequences: false).last.map(String.init) ?? before
    let words = statement.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    guard let name = words.first else {
      return Registry.allNames.filter { $0.hasPrefix(word) }.sorted()
    }
    // After `key=`: the lexer-level `=` is a word break, so `before` ends with it.
    if statement.hasSuffix("="), let key = words.last.map({ String($0.dropLast()) }) {
      return values(for: key, command: name, word: word)
    }
    guard let command = Registry.find(name) else { return [] }
    if command.name == "help" { return Registry.allNames.filter { $0.hasPrefix(word) }.sorted() }
    var result: [String] = []
    let options = command.name == "set" ? settableOptions() : command.options
    for option in options where option.name.hasPrefix(word) {
      result.append(option.type.isFlag ? option.name : option.name + "=")
    }
    if command.name == "load" { result += cachedModels().filter { $0.hasPrefix(word) } }
    if let positionals = command.positionals {
      switch positionals.type {
      case .path: result += paths(matching: word)
      case .choice(let words): result += words.filter { $0.hasPrefix(word) }
      default: break
      }
    }
    return result
  }

  /// Hub ids in the local Hugging Face cache (`models--microsoft--Florence-2-base-ft`).
  static func cachedModels() -> [String] {
    let folders = (try? FileManager.default.contentsOfDirectory(atPath: HubCache.cacheFolder())) ?? []
    return folders.filter { $0.hasPrefix("models--") }.map {
      $0.dropFirst("models--".count).replacingOccurrences(of: "--", with: "/")
    }.sorted()
  }

  private static func settableOptions() -> [OptionSpec] {
    var seen = Set<String>()
    return Registry.commands.flatMap(\.options).filter { $0.settable && seen.insert($0.name).inserted }
  }

  private static func values(for key: String, command name: String, word: String) -> [String] {
    let option = Registry.find(name)?.option(key) ?? Registry.declarations(of: key).first?.option
    switch option?.type {
    case .path?: return paths(matching: word)
    case .choice(let words)?: return words.filter { $0.hasPrefix(word) }
    case .flag?: return ["true", "false"].filter { $0.hasPrefix(word) }
    case .custom(let hint, _)? where hint == "<TASK>":
      return FlorenceTask.allCases.map(\.rawValue).filter { $0.hasPrefix(word) }
    default: return []
    }
  }

  /// Files and folders starting with `word` (folders end in `/`); hidden ones only when asked for.
  static func paths(matching word: String) -> [String] {
    let expanded = expandTilde(word)
    let slash = expanded.lastIndex(of: "/")
    let folder = slash.map { String(expanded[...$0]) } ?? ""
    let prefix = slash.map { String(expanded[expanded.index(after: $0)...]) } ?? expanded
    let written = slash.map { _ in String(word[...(word.lastIndex(of: "/") ?? word.startIndex)]) } ?? ""
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else {
      return []
    }
    return entries.filter { $0.hasPrefix(prefix) && (prefix.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map {
      var isDirectory: ObjCBool = false
      _ = FileManager.default.fileExists(atPath: folder + $0, isDirectory: &isDirectory)
      return written + $0 + (isDirectory.boolValue ? "/" : "")
    }
  }

  /// Hooks into libedit.
  static func install() {
    let breaks = UnsafePointer(strdup(" \t\n\"';="))
    rl_basic_word_break_characters = breaks
    rl_completer_word_break_characters = UnsafeMutablePointer(mutating: breaks)
    rl_attempted_completion_function = { text, start, _ in
      rl_attempted_completion_over = 1
      let word = text.map { String(cString: $0) } ?? ""
      var before = ""
      if let buffer = rl_line_buffer, start > 0 {
        let bytes = UnsafeRawBufferPointer(start: buffer, count: Int(start))
        before = String(decoding: bytes, as: UTF8.self)
      }
      Completion.pending = Completion.candidates(before: before, word: word)
      Completion.pendingIndex = 0
      guard !Completion.pending.isEmpty else { return nil }
      // No space after `key=` or a folder, so the user can go on typing.
      let single = Completion.pending.count == 1 ? Completion.pending[0] : ""
      rl_completion_append_character = single.hasSuffix("=") || single.hasSuffix("/") ? 0 : 32
      return rl_completion_matches(text) { _, state in
        if state == 0 { Completion.pendingIndex = 0 }
        guard Completion.pendingIndex < Completion.pending.count else { return nil }
        defer { Completion.pendingIndex += 1 }
        return strdup(Completion.pending[Completion.pendingIndex])
      }
    }
  }
}
