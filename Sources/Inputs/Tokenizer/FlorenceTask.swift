// Florence-2 task tokens: the prompt text the processor actually tokenizes, and how the generated text is
// post-processed (SPEC.md §5.2, §4.3). Semantics of Microsoft's remote code (processing_florence2.py,
// `_construct_prompts`), which the checkpoints were trained with:
//   - a task without input (`<CAPTION>`, `<OD>`, ...) must be the whole prompt; if its token occurs
//     anywhere else in the text the processor refuses (an assertion there, `taskTokenNotAlone` here);
//   - for a task with input (`<REGION_TO_DESCRIPTION>` ...), every occurrence of its token is removed and
//     the rest of the text, not stripped, fills `{input}` (transformers' native processor strips it;
//     the remote code does not);
//   - the first matching task in the processor's order wins; any other text is a custom prompt, unchanged.
// "Occurs" is a code-point substring test, as Python's `in`, not Swift's grapheme-aware `contains`.

public enum FlorenceTask: String, CaseIterable, Sendable {
  // Tasks without input, in the processor's order.
  case ocr = "<OCR>"
  case ocrWithRegion = "<OCR_WITH_REGION>"
  case caption = "<CAPTION>"
  case detailedCaption = "<DETAILED_CAPTION>"
  case moreDetailedCaption = "<MORE_DETAILED_CAPTION>"
  case objectDetection = "<OD>"
  case denseRegionCaption = "<DENSE_REGION_CAPTION>"
  case regionProposal = "<REGION_PROPOSAL>"
  // Tasks with input, in the processor's order.
  case captionToPhraseGrounding = "<CAPTION_TO_PHRASE_GROUNDING>"
  case referringExpressionSegmentation = "<REFERRING_EXPRESSION_SEGMENTATION>"
  case regionToSegmentation = "<REGION_TO_SEGMENTATION>"
  case openVocabularyDetection = "<OPEN_VOCABULARY_DETECTION>"
  case regionToCategory = "<REGION_TO_CATEGORY>"
  case regionToDescription = "<REGION_TO_DESCRIPTION>"
  case regionToOCR = "<REGION_TO_OCR>"

  /// The processor's template; `{input}` marks where a task with input puts the user's text.
  public var template: String {
    switch self {
    case .ocr: return "What is the text in the image?"
    case .ocrWithRegion: return "What is the text in the image, with regions?"
    case .caption: return "What does the image describe?"
    case .detailedCaption: return "Describe in detail what is shown in the image."
    case .moreDetailedCaption: return "Describe with a paragraph what is shown in the image."
    case .objectDetection: return "Locate the objects with category name in the image."
    case .denseRegionCaption: return "Locate the objects in the image, with their descriptions."
    case .regionProposal: return "Locate the region proposals in the image."
    case .captionToPhraseGrounding: return "Locate the phrases in the caption: {input}"
    case .referringExpressionSegmentation: return "Locate {input} in the image with mask"
    case .regionToSegmentation: return "What is the polygon mask of region {input}"
    case .openVocabularyDetection: return "Locate {input} in the image."
    case .regionToCategory: return "What is the region {input}?"
    case .regionToDescription: return "What does the region {input} describe?"
    case .regionToOCR: return "What text is in the region {input}?"
    }
  }

  public var takesInput: Bool { template.contains("{input}") }

  /// How `post_process_generation` treats this task's output.
  public var postProcessing: PostProcessing {
    switch self {
    case .ocr, .caption, .detailedCaption, .moreDetailedCaption, .regionToCategory, .regionToDescription,
      .regionToOCR:
      return .pureText
    case .ocrWithRegion: return .ocr
    case .objectDetection, .denseRegionCaption: return .descriptionWithBboxes
    case .regionProposal: return .bboxes
    case .captionToPhraseGrounding: return .phraseGrounding
    case .referringExpressionSegmentation, .regionToSegmentation: return .polygons
    case .openVocabularyDetection: return .descriptionWithBboxesOrPolygons
    }
  }

  /// Post-processing types, named as in processor_facts.json / the remote code.
  public enum PostProcessing: String, Sendable {
    case pureText = "pure_text"
    case ocr
    case descriptionWithBboxes = "description_with_bboxes"
    case bboxes
    case phraseGrounding = "phrase_grounding"
    case polygons
    case descriptionWithBboxesOrPolygons = "description_with_bboxes_or_polygons"
  }

  public struct PromptError: Error, CustomStringConvertible, Equatable {
    public let task: FlorenceTask
    public let prompt: String
    public var description: String {
      "task token \(task.rawValue) must be the whole prompt (got \"\(prompt)\"); tasks that take input are: "
        + FlorenceTask.allCases.filter(\.takesInput).map(\.rawValue).joined(separator: " ")
    }
  }

  /// The task a prompt names (the processor's first match), or nil for a custom prompt.
  public static func task(in prompt: String) -> FlorenceTask? {
    let text = Array(prompt.utf8)
    return allCases.first { UTF8Text.contains(text, Array($0.rawValue.utf8)) }
  }

  /// The text the processor tokenizes for a user prompt ("<CAPTION>" -> "What does the image describe?").
  public static func prompt(for userText: String) throws -> String {
    var text = Array(userText.utf8)
    for task in allCases where !task.takesInput && UTF8Text.contains(text, Array(task.rawValue.utf8)) {
      guard userText.utf8.elementsEqual(task.rawValue.utf8) else { throw PromptError(task: task, prompt: userText) }
      text = Array(task.template.utf8)
      break
    }
    for task in allCases where task.takesInput && UTF8Text.contains(text, Array(task.rawValue.utf8)) {
      let input = UTF8Text.replacingAll(text, Array(task.rawValue.utf8), with: [])
      text = UTF8Text.replacingAll(Array(task.template.utf8), Array("{input}".utf8), with: input)
      break
    }
    return String(decoding: text, as: UTF8.self)
  }

  /// `pure_text` post-processing (current remote code): every `<s>` then every `</s>` removed, nothing
  /// else (no strip; `<pad>`, `<unk>`, `<loc_*>` stay).
  public static func pureText(_ decoded: String) -> String {
    var bytes = UTF8Text.replacingAll(Array(decoded.utf8), Array("<s>".utf8), with: [])
    bytes = UTF8Text.replacingAll(bytes, Array("</s>".utf8), with: [])
    return String(decoding: bytes, as: UTF8.self)
  }
}
