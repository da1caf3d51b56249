import Foundation

// `tokenize TEXT`: the loaded model's tokenizer on a text or a caption file (how long is this caption
// against max_length?). Ids include <s> and </s>, as the processor encodes labels.

enum TokenizeCommand {
  static let command = Command(
    "tokenize", group: .model, summary: "Show the token ids, tokens and count of a text or caption file",
    positionals: PositionalSpec("TEXT", .string, minimum: 0, maximum: 1, "the text (quote it)"),
    options: [
      OptionSpec(
        "file", .path, settable: false,
        "Read the whole file (UTF-8; a byte-order mark at its start is dropped, as `dataset` does) as the text"),
      .flag("json", "One line {\"text\": ..., \"ids\": [...], \"tokens\": [...]} for scripts"),
    ],
    examples: ["tokenize \"A cat on a mat.\"", "tokenize file=photos/cat.txt json"],
    run: { arguments, session in
      if arguments.positionals.isEmpty == (arguments.string("file") == nil) {
        throw ShellError("tokenize: give either TEXT or file=PATH")
      }
      var text = arguments.positionals.first ?? ""
      if let path = arguments.string("file") {
        guard let data = FileManager.default.contents(atPath: path) else {
          throw ShellError("tokenize: cannot read \(path)")
        }
        // A byte-order mark is dropped as `dataset` drops it (the reference scripts would keep it as three tokens).
        let body = data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data[...]
        guard let decoded = String(validating: body, as: UTF8.self) else {
          throw ShellError("tokenize: \(path) is not UTF-8 text")
        }
        text = decoded
      }
      guard let model = session.model else { throw ShellError("tokenize: no model loaded (load MODEL first)") }
      let ids = model.tokenizer.encode(text)
      let tokens = try model.tokenizer.tokenStrings(ids)
      if arguments.flag("json") {
        let idList = ids.map(String.init).joined(separator: ", ")
        let tokenList = tokens.map(jsonString).joined(separator: ", ")
        session.out.line("{\"text\": \(jsonString(text)), \"ids\": [\(idList)], \"tokens\": [\(tokenList)]}")
      } else {
        session.out.line("ids: \(ids.map(String.init).joined(separator: " "))")
        session.out.line("tokens: \(tokens.joined(separator: " "))")
        session.out.line("count: \(ids.count) (with <s> and </s>)")
      }
    })
}
