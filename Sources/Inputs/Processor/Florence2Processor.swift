// The Florence-2 processor (transformers models/florence2/processing_florence2.py `Florence2Processor`, with
// its CLIPImageProcessor): task or prompt -> input ids, images -> pixel_values, output ids -> caption text. Every
// path that feeds the model goes through it: caption, features, sample, compare, eval and training.
//
//   let processor = Florence2Processor(tokenizer: tokenizer)
//   let ids = try processor.promptIds("<CAPTION>")                  // "What does the image describe?" tokenized
//   let px = Florence2Processor.pixelValues([image])                 // [1, 3, 768, 768]
//   let text = processor.caption(ids: row, task: "<CAPTION>")        // decoded and post-processed
import FlrCore
import FlrImage
import FlrTokenizer

public struct Florence2Processor: Sendable {
  public let tokenizer: BartTokenizer

  public init(tokenizer: BartTokenizer) { self.tokenizer = tokenizer }

  // MARK: text

  /// The input ids of a task token or custom prompt (FlorenceTask.prompt: "<CAPTION>" -> "What does the image
  /// describe?", any other text is a custom prompt), with <s> and </s>.
  public func promptIds(_ task: String) throws -> [Int32] {
    tokenizer.encode(try FlorenceTask.prompt(for: task)).map(Int32.init)
  }

  /// One output row -> its caption: decoded and post-processed as the processor does for `task` (CaptionText).
  public func caption(ids: [Int32], task: String) -> String {
    let postProcessing = FlorenceTask.task(in: task)?.postProcessing ?? .pureText
    return CaptionText.caption(ids: ids, tokenizer: tokenizer, postProcessing: postProcessing)
  }

  // MARK: images

  /// The side of the square every image is resized to.
  public static let imageSize = PixelValues.size

  /// A decoded image as the processor resizes it (BICUBIC to 768x768, Pillow-exact); datasets keep these bytes.
  public static func resized(_ image: RGBImage) -> RGBImage { BicubicResize.florence(image) }

  /// Decoded images -> pixel_values [B, 3, 768, 768] (resize, rescale 1/255, ImageNet normalisation).
  public static func pixelValues(_ images: [RGBImage]) -> Tensor {
    let batch = Tensor(zeros: [images.count, 3, imageSize, imageSize])
    for (slot, image) in images.enumerated() {
      resized(image).pixels.withUnsafeBufferPointer { write($0.baseAddress!, slot: slot, into: batch) }
    }
    return batch
  }

  /// Resized images stored one after another as 768x768 HWC bytes -> pixel_values [positions.count, 3, 768, 768]
  /// of the images at `positions`.
  public static func pixelValues(resized pixels: [UInt8], positions: [Int]) -> Tensor {
    let bytesPerImage = imageSize * imageSize * 3
    precondition(positions.allSatisfy { ($0 + 1) * bytesPerImage <= pixels.count }, "an image position is outside")
    let batch = Tensor(zeros: [positions.count, 3, imageSize, imageSize])
    pixels.withUnsafeBufferPointer { src in
      for (slot, i) in positions.enumerated() { write(src.baseAddress! + i * bytesPerImage, slot: slot, into: batch) }
    }
    return batch
  }

  /// One resized image's HWC bytes -> slot `slot` of a [B, 3, 768, 768] batch.
  private static func write(_ hwc: UnsafePointer<UInt8>, slot: Int, into batch: Tensor) {
    let plane = imageSize * imageSize
    PixelValues.write(hwc: hwc, count: plane, to: batch.data + slot * 3 * plane)
  }
}
