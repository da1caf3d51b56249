import FlrImage
import Foundation

// Turns `caption`'s PATH words into the sorted list of images to caption: files as given, folders
// listed (ImageFiles.extensions, case-insensitive; `recursive` descends), globs expanded. Then the
// `shard=I/N` selection, so N processes given the same words split the work with no overlap.

enum ImagePaths {
  static func expand(_ words: [String], recursive: Bool) throws -> [String] {
    var found: [String] = []
    for word in words {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: word, isDirectory: &isDirectory) {
        if isDirectory.boolValue {
          found += try ImageFiles.list(in: URL(fileURLWithPath: word), recursive: recursive).map(\.path)
        } else {
          found.append(word)
        }
      } else if word.contains(where: { "*?[".contains($0) }) {
        let matches = try glob(word)
        var images: [String] = []
        for match in matches {
          if FileManager.default.fileExists(atPath: match, isDirectory: &isDirectory), isDirectory.boolValue {
            images += try ImageFiles.list(in: URL(fileURLWithPath: match), recursive: recursive).map(\.path)
          } else if ImageFiles.isSupported(URL(fileURLWithPath: match)) {
            images.append(match)
          }
        }
        guard !images.isEmpty else { throw ShellError("no images match \(word)") }
        found += images
      } else {
        throw ShellError("no such file or folder: \(word)")
      }
    }
    // One order everywhere (byte order of the path), each image once.
    var seen = Set<String>()
    return found.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.filter { seen.insert($0).inserted }
  }

  /// The accepted extensions as help and notes print them (`.png .jpg .jpeg ...`): FlrImage's one list.
  static var extensionList: String { ImageFiles.described }

  /// Files the PATH words reach that are not images of an accepted type (folders' regular non-hidden files and
  /// glob matches), leaving out caption files (`except`, e.g. `.txt`), so that `caption` can say it ignored them.
  static func otherFiles(_ words: [String], recursive: Bool, except captionExtension: String) -> [String] {
    let fm = FileManager.default
    var found: [String] = []
    func consider(_ url: URL) {
      let ext = "." + url.pathExtension.lowercased()
      if !ImageFiles.isSupported(url), ext != captionExtension.lowercased(),
        (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
      {
        found.append(url.path)
      }
    }
    func folder(_ path: String) {
      let url = URL(fileURLWithPath: path, isDirectory: true)
      if recursive {
        let walker = fm.enumerator(
          at: url, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        while let entry = walker?.nextObject() as? URL { consider(entry) }
      } else {
        let entries =
          (try? fm.contentsOfDirectory(at: url, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]))
        for entry in entries ?? [] { consider(entry) }
      }
    }
    for word in words {
      var isDirectory: ObjCBool = false
      if fm.fileExists(atPath: word, isDirectory: &isDirectory) {
        if isDirectory.boolValue { folder(word) }
      } else if word.contains(where: { "*?[".contains($0) }) {
        for match in (try? glob(word)) ?? [] {
          if fm.fileExists(atPath: match, isDirectory: &isDirectory), isDirectory.boolValue {
            folder(match)
          } else {
            consider(URL(fileURLWithPath: match))
          }
        }
      }
    }
    return Array(Set(found)).sorted()
  }

  /// `expand`, then a note naming the files of other types the words reached (caption files left out).
  static func expandNotingOthers(
    _ words: [String], recursive: Bool, command: String, captionExtension: String = ".txt", session: Session
  ) throws -> [String] {
    let images = try expand(words, recursive: recursive)
    let ignored = otherFiles(words, recursive: recursive, except: captionExtension)
    if !ignored.isEmpty { session.note("\(command): \(describeIgnored(ignored))") }
    return images
  }

  /// "3 files of other types ignored (.heic, .psd; accepted: .png .jpg ...)".
  static func describeIgnored(_ files: [String]) -> String {
    let kinds = Set(
      files.map { file -> String in
        let ext = (file as NSString).pathExtension.lowercased()
        return ext.isEmpty ? "no extension" : "." + ext
      }
    ).sorted()
    let noun = files.count == 1 ? "file" : "files"
    return
      "\(files.count) \(noun) of other types ignored (\(kinds.joined(separator: ", ")); accepted: \(extensionList))"
  }

  /// POSIX glob(3): `*`, `?`, `[...]`, sorted matches; none is an empty list.
  static func glob(_ pattern: String) throws -> [String] {
    var result = glob_t()
    defer { globfree(&result) }
    let status = Glibc.glob(pattern, 0, nil, &result)
    if status == GLOB_NOMATCH { return [] }
    guard status == 0 else { throw ShellError("cannot expand \(pattern) (glob error \(status))") }
    return (0..<Int(result.gl_pathc)).compactMap { index in result.gl_pathv[index].map { String(cString: $0) } }
  }

  /// `I/N` with 1 <= I <= N: checked when the option is parsed.
  static func checkShard(_ text: String) -> String? {
    guard parseShard(text) != nil else { return "I/N with 1 <= I <= N, e.g. 2/4" }
    return nil
  }

  static func parseShard(_ text: String) -> (index: Int, count: Int)? {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1,
      (1...count).contains(index)
    else { return nil }
    return (index, count)
  }

  /// Every `count`-th path starting at the `index`-th (1-based), of the sorted list.
  static func shard(_ paths: [String], index: Int, count: Int) -> [String] {
    paths.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
  }
}
