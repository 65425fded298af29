"""The page in English and 简体中文, picked from the browser's language.

Static text (labels, buttons, placeholders, tab names, Markdown) is a key the browser translates
through Gradio's `gr.I18n`; a message a handler writes is translated here, from the request's
Accept-Language header, the language the browser asks pages in.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from lmdemo.errors import UserError

# key: (English, 简体中文)
STRINGS: dict[str, tuple[str, str]] = {
    "header.tagline": ("Language models in your browser, running on this server.",
                       "在浏览器里使用语言模型，模型运行在这台服务器上。"),
    "tab.chat": ("Chat", "对话"),
    "tab.docqa": ("Document QA", "文档问答"),
    "tab.playground": ("Playground", "任务实验"),
    "tab.lab": ("Lab", "模型内部"),
    "tab.compare": ("Compare", "对比"),
    "tab.models": ("Models", "模型"),
    # Chat
    "chat.model": ("Model", "模型"),
    "chat.model_info": ("the loaded chat models; another can be loaded in the Models tab",
                        "已加载的对话模型；可在“模型”页加载其他模型"),
    "chat.system_prompt": ("System prompt", "系统提示词"),
    "chat.temperature": ("Temperature (0 = greedy)", "温度（0 = 贪心解码）"),
    "chat.top_p": ("Top-p", "Top-p"),
    "chat.top_k": ("Top-k (0 = off)", "Top-k（0 = 关闭）"),
    "chat.max_new_tokens": ("Max new tokens", "最多生成的 token 数"),
    "chat.repetition_penalty": ("Repetition penalty", "重复惩罚"),
    "chat.settings": ("System prompt and sampling", "系统提示词与采样"),
    "chat.chatbot": ("Chat", "对话"),
    "chat.placeholder": ("Ask anything. The model runs on this server; nothing leaves it.",
                         "随便问。模型运行在这台服务器上，数据不会离开它。"),
    "chat.input": ("Type a message and press Enter", "输入消息，按回车发送"),
    # Document QA
    "docqa.documents": ("Documents", "文档"),
    "docqa.index": ("Index documents", "建立索引"),
    "docqa.remove": ("Remove all", "全部移除"),
    "docqa.indexing": ("Indexing", "索引进度"),
    "docqa.none": ("No documents yet.", "还没有文档。"),
    "docqa.passage": ("1 passage", "1 个段落"),
    "docqa.passages": ("{n} passages", "{n} 个段落"),
    "docqa.settings": ("Retrieval settings", "检索设置"),
    "docqa.retrieval": ("Retrieval", "检索方式"),
    "docqa.mode.hybrid": ("hybrid (keywords + meaning)", "混合（关键词 + 语义）"),
    "docqa.mode.dense": ("dense (meaning)", "语义向量"),
    "docqa.mode.bm25": ("bm25 (keywords)", "BM25 关键词"),
    "docqa.top_k": ("Passages given to the model", "交给模型的段落数"),
    "docqa.question": ("Question", "问题"),
    "docqa.question_placeholder": ("Ask about your documents and press Enter", "就你的文档提问，按回车发送"),
    "docqa.answer": ("Answer", "回答方式"),
    "docqa.answer_info": ("generate: the chat model writes it; quote: the passages' sentences closest to the "
                          "question, no generation; auto: generate, keep the sentences the passages back, "
                          "quote if none is",
                          "生成：由对话模型撰写；引用：直接摘出与问题最接近的原句，不生成；"
                          "自动：先生成，只保留有段落支持的句子，若一句也没有则改为引用"),
    "docqa.answer.auto": ("auto", "自动"),
    "docqa.answer.generate": ("generate", "生成"),
    "docqa.answer.quote": ("quote", "引用"),
    "docqa.ask": ("Ask", "提问"),
    "docqa.searching": ("*Searching your documents…*", "*正在检索你的文档……*"),
    "docqa.choose_files": ("Choose one or more files first (files already indexed are not kept).",
                           "请先选择一个或多个文件（已建立索引的文件不会保留原件）。"),
    "docqa.page": ("page {page}", "第 {page} 页"),
    "docqa.score": ("score", "得分"),
    # Playground
    "play.classify": ("Classify", "分类"),
    "play.text": ("Text to classify", "要分类的文本"),
    "play.text_placeholder": ("Paste a sentence or an article", "粘贴一句话或一篇文章"),
    "play.labels": ("Labels (zero-shot)", "标签（零样本）"),
    "play.labels_info": ("Comma-separated, or one per line as `label: description`.",
                         "用逗号分隔，或每行一个 `标签: 描述`。"),
    "play.classifier": ("Classifier", "分类器"),
    "play.mode.zero-shot": ("zero-shot", "零样本"),
    "play.mode.zero-shot-chat": ("zero-shot (ask the chat model)", "零样本（问对话模型）"),
    "play.mode.few-shot": ("few-shot", "少样本"),
    "play.mode.fine-tuned": ("fine-tuned", "微调模型"),
    "play.mode.ngram": ("n-gram baseline (TF-IDF)", "n-gram 基线（TF-IDF）"),
    "play.scores": ("Scores", "得分"),
    "play.few": ("Few-shot: a few examples per label", "少样本：每个标签几个例子"),
    "play.few_help": ("Say what the labels describe (sentiment, topic, …) and the chat model reads every "
                      "example too: a head is trained on its reading and the encoder's embeddings (seconds; on "
                      "movie reviews far better than the encoder alone); labels such as positive/negative say "
                      "“sentiment” by themselves. Left empty otherwise, with 4 or more examples of "
                      "every label SetFit fine-tunes a copy of the encoder on pairs of them (about a minute on a "
                      "CPU); with fewer, a head is trained on the encoder's embeddings (a second). When the encoder "
                      "cannot read the examples (Chinese for an English encoder), an n-gram classifier is trained "
                      "on them instead.",
                      "写明标签描述的是什么（情感、主题……），聊天模型也会读每个例子：分类头在它的读法和编码器的"
                      "向量上一起训练（几秒；在影评上远好于只用编码器）；positive/negative、正面/负面这类标签本身就表明是“情感”。"
                      "其余情况留空时，每个标签有 4 个或更多例子，"
                      "SetFit 先用例子两两组成的句对微调编码器的副本（CPU 上约一分钟）；例子更少时，只在编码器的"
                      "向量上训练一个分类头（约一秒）。编码器读不懂这些例子时（例如英文编码器遇到中文），"
                      "改为训练 n-gram 分类器。"),
    "play.aspect": ("The labels describe the text's …", "标签描述的是文本的……"),
    "play.aspect_placeholder": ("e.g. sentiment, topic (optional)", "例如 情感、主题（可不填）"),
    "play.train_few": ("Train few-shot", "训练少样本分类器"),
    "play.cancel": ("Cancel", "取消"),
    "play.fine_tune_csv": ("Fine-tune on your CSV (text,label)", "用你的 CSV 微调（text,label）"),
    "play.training_csv": ("Training CSV", "训练用 CSV"),
    "play.epochs": ("Epochs (at most: the best one on the held-out split is kept)",
                    "训练轮数（上限：保留在留出集上最好的一轮）"),
    "play.eight_bit": ("Load the base in 8-bit (bitsandbytes)", "以 8 位加载基础模型（bitsandbytes）"),
    "play.fine_tune": ("Fine-tune", "开始微调"),
    "play.download": ("Download the model (.zip)", "下载模型（.zip）"),
    "play.summarize": ("Summarize", "摘要"),
    "play.source": ("Text", "文本"),
    "play.source_placeholder": ("Paste text, or upload a file below", "粘贴文本，或在下方上传文件"),
    "play.upload": ("…or load the text of a document", "……或读取一个文档的文字"),
    "play.method": ("Method", "方法"),
    "play.method.extractive": ("extractive", "抽取式"),
    "play.method.abstractive": ("abstractive", "生成式"),
    "play.sentences": ("Sentences", "句数"),
    "play.cancelled": ("Cancelled; nothing was kept.", "已取消，没有保留任何结果。"),
    "play.cancelled_short": ("Cancelled.", "已取消。"),
    "play.train_few_first": ("Train the few-shot head first (Few-shot accordion).",
                             "请先训练少样本分类器（见“少样本”折叠栏）。"),
    "play.fine_tune_first": ("Fine-tune a model on your CSV first.", "请先用你的 CSV 微调一个模型。"),
    "play.ngram_first": ("Fine-tune on your CSV first: the n-gram baseline is trained on it too.",
                         "请先用你的 CSV 微调：n-gram 基线也用它训练。"),
    "play.upload_csv": ("Upload a CSV with `text,label` columns first.", "请先上传含 `text,label` 两列的 CSV。"),
    "play.training": ("Training… {message}", "训练中……{message}"),
    "play.few_done": ("{message}, from {n} examples ({counts}). Choose **few-shot** and classify.",
                      "{message}，共 {n} 个例子（{counts}）。选择**少样本**再分类。"),
    "play.ngram_accuracy": ("n-gram baseline (TF-IDF + logistic regression, seconds to train): {accuracy}",
                            "n-gram 基线（TF-IDF + 逻辑回归，几秒训练完）：{accuracy}"),
    "play.ngram_trained": ("n-gram baseline trained", "n-gram 基线已训练"),
    "play.csv_aspect": ("The labels describe the text's … (optional: the chat model reads the rows too)",
                        "标签描述的是文本的……（可不填：填了聊天模型也读这些行）"),
    "play.csv_aspect_placeholder": ("e.g. sentiment, topic (labels such as positive/negative need none)",
                                    "例如 情感、主题（positive/negative、正面/负面这类标签不用填）"),
    "play.chat_reading": ("GPT's reading (a head on the chat model's states, now the **few-shot** classifier): {accuracy}",
                          "GPT 的解读（聊天模型状态上的分类头，现为**少样本**分类器）：{accuracy}"),
    "play.aspect_from_labels": (" (the labels are sentiment words, so it read each row's “{aspect}”)",
                                "（标签是情感词，所以读的是每行的“{aspect}”）"),
    "play.chat_reading_trained": ("GPT's reading trained (now the **few-shot** classifier)",
                                  "GPT 的解读已训练（现为**少样本**分类器）"),
    "play.chat_not_read": ("the chat model did not read the rows: {why}", "聊天模型没有读这些行：{why}"),
    "play.not_fine_tuned": ("{against}. Choose the **n-gram baseline** and classify. Not fine-tuned: {why}",
                            "{against}。选择 **n-gram 基线** 再分类。未微调：{why}"),
    "play.training_rows": ("Training on {n} rows ({counts})… {against}.", "正在用 {n} 行训练（{counts}）……{against}。"),
    "play.fine_tuned": ("Done. Choose **fine-tuned** (or the **n-gram baseline**) and classify, or download the "
                        "model. BERT vs n-grams, accuracy on the rows held out: fine-tuned {accuracy}; {against}.",
                        "完成。选择**微调模型**（或 **n-gram 基线**）再分类，或下载模型。"
                        "BERT 对比 n-gram，留出集准确率：微调模型 {accuracy}；{against}。"),
    "play.held_out": ("Held-out accuracy", "留出集准确率"),
    "play.rows": ("rows", "行"),
    "play.confusion_corner": ("gold \\ predicted", "真实 \\ 预测"),
    # Lab
    "lab.tokens": ("Tokens", "分词"),
    "lab.text": ("Text", "文本"),
    "lab.tokenize": ("Tokenize", "分词"),
    "lab.next_token": ("Next token", "下一个 token"),
    "lab.prompt": ("Prompt", "提示"),
    "lab.temperature": ("Temperature", "温度"),
    "lab.show": ("Show distribution", "显示分布"),
    "lab.step": ("Step: sample and append", "单步：采样并追加"),
    "lab.p_next": ("P(next token)", "P(下一个 token)"),
    "lab.attention": ("Attention", "注意力"),
    "lab.model": ("Model", "模型"),
    "lab.gpt": ("GPT-style (causal)", "GPT 式（因果）"),
    "lab.bert": ("BERT-style (bidirectional)", "BERT 式（双向）"),
    "lab.layer": ("Layer", "层"),
    "lab.head": ("Head (-1 = average of heads)", "注意力头（-1 = 所有头的平均）"),
    "lab.show_attention": ("Show attention", "显示注意力"),
    "lab.embeddings": ("Embeddings", "句向量"),
    "lab.sentences": ("Sentences (one per line)", "句子（每行一句）"),
    "lab.compare": ("Compare", "比较"),
    "lab.pca": ("PCA projection", "PCA 投影"),
    "lab.bpe": ("GPT-style (BPE)", "GPT 式（BPE）"),
    "lab.wordpiece": ("BERT-style (WordPiece)", "BERT 式（WordPiece）"),
    "lab.cosine": ("Cosine similarity", "余弦相似度"),
    "lab.token_count": ("{n} tokens", "{n} 个 token"),
    "lab.unknown_tokens": ("{n} token(s) unknown to this model: it cannot read those characters.",
                           "这个模型不认识其中 {n} 个 token：它读不懂这些字符。"),
    "lab.coverage_none": ("no letters", "没有文字"),
    "lab.coverage_all": ("all {n} letters known", "{n} 个字全部认识"),
    "lab.coverage_some": ("{known} of {n} letters known ({share} unknown: {examples})",
                          "{n} 个字中认识 {known} 个（{share} 不认识：{examples}）"),
    # Compare
    "compare.prompt": ("Prompt", "提示"),
    "compare.placeholder": ("One prompt, two models: which answers better?", "同一个提示，两个模型：哪个回答得更好？"),
    "compare.left": ("Left model", "左侧模型"),
    "compare.right": ("Right model", "右侧模型"),
    "compare.go": ("Compare", "开始对比"),
    "compare.help": ("Load a second model (or the same one at another quantization or on another engine) in "
                     "the Models tab to compare.",
                     "在“模型”页再加载一个模型（或同一模型的另一种量化、另一个引擎）即可对比。"),
    "compare.vote.left": ("👈 Left is better", "👈 左边更好"),
    "compare.vote.right": ("👉 Right is better", "👉 右边更好"),
    "compare.vote.tie": ("🤝 Tie", "🤝 平局"),
    "compare.vote.both-bad": ("👎 Both are bad", "👎 都不好"),
    "compare.no_votes": ("No votes yet.", "还没有投票。"),
    "compare.download": ("Download votes (JSONL)", "下载投票记录（JSONL）"),
    "compare.votes": ("**{n} votes**", "**{n} 票**"),
    "compare.wins": ("{n} win(s)", "胜 {n} 次"),
    # Models
    "models.memory_help": ("Memory each way of loading (weights, plus the KV cache per 1,000 tokens of context; "
                           "✓ fits the free memory now). Your own models: drop transformers folders or `.gguf` "
                           "files into",
                           "各种加载方式所需的内存（权重，加上每 1,000 个上下文 token 的 KV 缓存；✓ 表示当前空闲内存"
                           "放得下）。你自己的模型：把 transformers 文件夹或 `.gguf` 文件放进"),
    "models.model": ("Model", "模型"),
    "models.model_info": ("pick one, or type a hub id (org/name, or org/name/file.gguf)",
                          "从列表选择，或输入 hub id（org/name 或 org/name/file.gguf）"),
    "models.role": ("Role", "用途"),
    "models.quantization": ("Quantization (bitsandbytes)", "量化（bitsandbytes）"),
    "models.engine": ("Engine", "推理引擎"),
    "models.estimate": ("Estimate", "估算"),
    "models.download": ("Download", "下载"),
    "models.load": ("Load", "加载"),
    "models.loaded_chat": ("Loaded chat model", "已加载的对话模型"),
    "models.unload": ("Unload", "卸载"),
    "models.read_only": ("⚠️ {why} The tab is read-only for you.", "⚠️ {why} 此页对你只读。"),
    "models.pick": ("Pick or type a model first.", "请先选择或输入一个模型。"),
    "models.pick_loaded": ("Pick a loaded chat model first.", "请先选择一个已加载的对话模型。"),
}

I18N = gr.I18n(
    en={key: en for key, (en, _) in STRINGS.items()},
    **{"zh-CN": {key: zh for key, (_, zh) in STRINGS.items()}, "zh": {key: zh for key, (_, zh) in STRINGS.items()}},
)


def t(key: str) -> Any:
    """A key the browser shows in its language (for labels, buttons, tab names, static Markdown)."""
    if key not in STRINGS:
        raise KeyError(f"no translation for {key!r}")
    return I18N(key)


def language(request: gr.Request | None) -> str:
    """'zh' when the browser asks for Chinese first, else 'en' (API clients send no language)."""
    headers = getattr(request, "headers", None) or {}
    accepted = headers.get("accept-language", "") if hasattr(headers, "get") else ""
    first = accepted.split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"


def say(request: gr.Request | None, key: str, **values: Any) -> str:
    """A handler's message in the language of the request's browser."""
    en, zh = STRINGS[key]
    return (zh if language(request) == "zh" else en).format(**values)


def told(request: gr.Request | None, error: UserError) -> str:
    """A UserError's message in the language of the request's browser (English when it has no Chinese)."""
    return error.said(language(request) == "zh")
