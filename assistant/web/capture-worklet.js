// AudioWorklet processor: microphone audio at the context's rate -> 16 kHz PCM16 frames.
//
// Runs on the audio rendering thread. Each render quantum (128 samples at the
// context rate) is low-pass filtered and resampled to 16 kHz with a windowed-sinc
// interpolator whose state carries across quanta, so the output is one continuous
// signal whatever the block boundaries. Every `frameMs` of output becomes one
// Int16Array (little-endian on every platform browsers run on) posted to the page
// together with its RMS level for the meter. The page decides whether to send it.

const TARGET_RATE = 16000;
const HALF_TAPS = 8; // kernel half-width, in zero crossings of the low-pass sinc
const TABLE_RES = 64; // kernel table entries per input sample

class Resampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate; // input samples per output sample
    // Cut-off a little below the output Nyquist (only when downsampling).
    this.cutoff = Math.min(1, outRate / inRate) * 0.92;
    this.half = Math.ceil(HALF_TAPS / this.cutoff); // half-width in input samples
    this.history = new Float32Array(0); // input samples not yet fully consumed
    this.pos = 0; // position of the next output sample, relative to history[0]
    // Windowed sinc (Blackman) tabulated once; looked up with linear interpolation.
    const n = this.half * TABLE_RES + 2;
    this.table = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const x = j / TABLE_RES;
      if (x >= this.half) continue;
      const arg = Math.PI * this.cutoff * x;
      const sinc = x === 0 ? 1 : Math.sin(arg) / arg;
      const w = 0.42 + 0.5 * Math.cos((Math.PI * x) / this.half) + 0.08 * Math.cos((2 * Math.PI * x) / this.half);
      this.table[j] = sinc * w;
    }
  }

  kernel(x) {
    const t = Math.abs(x) * TABLE_RES;
    const j = Math.floor(t);
    if (j + 1 >= this.table.length) return 0;
    const f = t - j;
    return this.table[j] * (1 - f) + this.table[j + 1] * f;
  }

  process(input) {
    const buf = new Float32Array(this.history.length + input.length);
    buf.set(this.history, 0);
    buf.set(input, this.history.length);
    const out = [];
    // An output sample at position p needs inputs up to p + half.
    while (this.pos + this.half < buf.length) {
      const p = this.pos;
      const lo = Math.max(0, Math.ceil(p - this.half));
      const hi = Math.floor(p + this.half);
      let acc = 0;
      let norm = 0;
      for (let i = lo; i <= hi; i++) {
        const k = this.kernel(i - p);
        acc += buf[i] * k;
        norm += k;
      }
      out.push(norm > 0 ? acc / norm : 0);
      this.pos += this.step;
    }
    // Keep what future outputs still need.
    const keepFrom = Math.max(0, Math.floor(this.pos - this.half));
    this.history = buf.slice(keepFrom);
    this.pos -= keepFrom;
    return out;
  }
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.frameSamples = Math.round((TARGET_RATE * (opts.frameMs || 40)) / 1000);
    this.resampler = new Resampler(sampleRate, TARGET_RATE);
    this.pending = new Int16Array(this.frameSamples);
    this.fill = 0;
    this.sumSquares = 0;
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data && event.data.type === "stop") this.running = false;
    };
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0];
    if (!input || input.length === 0 || !input[0]) return true;
    // Mix down to mono.
    let mono = input[0];
    if (input.length > 1) {
      mono = new Float32Array(input[0].length);
      for (let ch = 0; ch < input.length; ch++) {
        const data = input[ch];
        for (let i = 0; i < data.length; i++) mono[i] += data[i] / input.length;
      }
    }
    const resampled = this.resampler.process(mono);
    for (let i = 0; i < resampled.length; i++) {
      const s = Math.max(-1, Math.min(1, resampled[i]));
      this.sumSquares += s * s;
      this.pending[this.fill++] = s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
      if (this.fill === this.frameSamples) {
        const frame = this.pending;
        const rms = Math.sqrt(this.sumSquares / this.frameSamples);
        this.port.postMessage({ type: "frame", pcm: frame.buffer, rms }, [frame.buffer]);
        this.pending = new Int16Array(this.frameSamples);
        this.fill = 0;
        this.sumSquares = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm16-capture", CaptureProcessor);
