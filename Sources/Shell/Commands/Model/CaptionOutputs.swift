import Foundation

// Where captions go, with the reference captioner's rules (inference_florence.py):
//   caption file = image path with its extension replaced by `ext` (Path.with_name(stem + ext));
//   an existing caption file is left alone unless `overwrite` (replaced) or `append` (" " + caption
//   added at its end); a new one is written as the bare caption, no newline.
// One difference, on purpose: the reference script's `--overwrite` falls through without writing (its branch is
// empty), so an existing file is never replaced; here `overwrite` replaces it, as its help says.

enum CaptionFileRule {
  case write, append, skipExisting
}

enum CaptionFiles {
  static func captionPath(for image: String, ext: String) -> String {
    (image as NSString).deletingPathExtension + ext
  }

  /// What `save` does for this image given the flags and whether its caption file exists.
  static func rule(for image: String, ext: String, overwrite: Bool, append: Bool) -> CaptionFileRule {
    guard FileManager.default.fileExists(atPath: captionPath(for: image, ext: ext)) else { return .write }
    if append { return .append }
    return overwrite ? .write : .skipExisting
  }

  /// Writes or appends one caption; errors name the file.
  static func save(_ caption: String, for image: String, ext: String, rule: CaptionFileRule) throws {
    let path = captionPath(for: image, ext: ext)
    switch rule {
    case .skipExisting:
      return
    case .write:
      do {
        try Data(caption.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
      } catch {
        throw ShellError("cannot write \(path): \(error.localizedDescription)")
      }
    case .append:
      guard let handle = FileHandle(forWritingAtPath: path) else { throw ShellError("cannot open \(path) to append") }
      defer { try? handle.close() }
      do {
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((" " + caption).utf8))
      } catch {
        throw ShellError("cannot append to \(path): \(error.localizedDescription)")
      }
    }
  }
}

/// `out=FILE.jsonl`: one `{"file": ..., "caption": ...}` line per image, flushed as it goes so a
/// stopped run keeps every finished line; `skip_existing` reads the files already there to resume.
final class CaptionLog {
  private let handle: FileHandle
  let path: String
  /// Files already in the log when it was opened for resuming.
  private(set) var done: Set<String> = []

  init(path: String, resume: Bool) throws {
    self.path = path
    let manager = FileManager.default
    if resume, manager.fileExists(atPath: path) {
      guard var data = manager.contents(atPath: path) else { throw ShellError("cannot read \(path)") }
      // A run killed mid-line leaves a partial last line: cut it so the next line starts clean.
      if let last = data.last, last != UInt8(ascii: "\n") {
        let keep = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        data = data.prefix(keep)
        do {
          try data.write(to: URL(fileURLWithPath: path))
        } catch {
          throw ShellError("cannot repair \(path): \(error.localizedDescription)")
        }
      }
      for (number, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
          let file = object["file"] as? String
        else { throw ShellError("\(path):\(number + 1): not a {\"file\": ..., \"caption\": ...} line") }
        done.insert(file)
      }
    } else if !manager.createFile(atPath: path, contents: nil) {
      throw ShellError("cannot create \(path)")
    }
    guard let handle = FileHandle(forWritingAtPath: path) else { throw ShellError("cannot open \(path) for writing") }
    self.handle = handle
    do { try handle.seekToEnd() } catch { throw ShellError("cannot write \(path): \(error.localizedDescription)") }
  }

  deinit { try? handle.close() }

  func append(file: String, caption: String) throws {
    let line = "{\"file\": \(jsonString(file)), \"caption\": \(jsonString(caption))}\n"
    do {
      try handle.write(contentsOf: Data(line.utf8))
      try handle.synchronize()
    } catch {
      throw ShellError("cannot write \(path): \(error.localizedDescription)")
    }
  }
}

/// A JSON string literal (RFC 8259 escapes; non-ASCII kept as UTF-8, like `json.dumps(ensure_ascii=False)`).
func jsonString(_ text: String) -> String {
  var result = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": result += "\\\""
    case "\\": result += "\\\\"
    case "\n": result += "\\n"
    case "\r": result += "\\r"
    case "\t": result += "\\t"
    case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
    default: result.unicodeScalars.append(scalar)
    }
  }
  return result + "\""
}
