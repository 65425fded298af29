"""Five short Chinese tutorial articles in Markdown, shaped like the ones this project grew from:
prose with Chinese and Latin sentence marks and quotes, headings, lists, code blocks, formulas and tables."""

TRANSFORMER = """# Transformer 模型简介

## 背景

在 Transformer 出现之前，序列建模主要依靠循环神经网络。循环网络必须一步一步地处理序列，很难并行计算！
2017 年的论文“Attention Is All You Need”提出了完全基于注意力的结构。

## 结构

Transformer 由编码器和解码器两部分组成，每一部分都堆叠了若干相同的层。每一层包含多头注意力和前馈网络两个子层。

```python
class EncoderLayer(nn.Module):
    def forward(self, x):
        return self.ffn(self.attn(x))
```

每个子层之后都有残差连接和层归一化：

$$\\mathrm{LayerNorm}(x + \\mathrm{Sublayer}(x))$$

| 模块 | 层数 | 维度 |
|---|---|---|
| 编码器 | 6 | 512 |
| 解码器 | 6 | 512 |

## 小结

Transformer 让模型可以一次看到整个序列，因此训练速度大大提高。它后来成为 BERT 和 GPT 的共同基础。
"""

ATTENTION = """# 注意力机制详解

注意力机制的核心思想很简单：在处理一个词的时候，模型应该关注与它最相关的那些词。
例如在“小猫没有过马路，因为它太累了”这句话里，“它”指的是小猫。

## 缩放点积注意力

查询向量和键向量做点积，得到相关程度的分数。分数除以维度的平方根，再经过 softmax 变成权重。

$$\\mathrm{Attention}(Q,K,V)=\\mathrm{softmax}\\left(\\frac{QK^T}{\\sqrt{d_k}}\\right)V$$

```python
weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
output = weights @ v
```

## 多头注意力

多头注意力把表示分成几个子空间，每个头分别计算注意力。这样模型可以同时关注不同位置、不同方面的信息？
答案是肯定的：不同的头确实学到了不同的关系。

- 头数：8
- 每个头的维度：64
"""

BERT = """# BERT：双向编码器

## 预训练任务

BERT 是一个只用编码器的模型，它在大量无标注文本上进行预训练。预训练有两个任务：掩码语言模型和下一句预测。
在掩码语言模型中，输入里 15% 的词会被替换成 [MASK]，模型要根据上下文猜出原来的词。

| 模型 | 层数 | 隐藏维度 | 参数量 |
|---|---|---|---|
| BERT-base | 12 | 768 | 1.1 亿 |
| BERT-large | 24 | 1024 | 3.4 亿 |

## 微调

预训练之后，只要在 BERT 上面加一个简单的输出层，就可以完成分类、问答等任务。微调通常只需要几个训练轮次！

```python
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained("bert-base-chinese", num_labels=2)
```

损失函数一般使用交叉熵 $L = -\\sum_i y_i \\log p_i$。中文 BERT 以字为单位切分文本，所以几乎不会遇到未知字符。
"""

GPT = """# GPT 与文本生成

## 自回归语言模型

GPT 是一个只用解码器的模型，它根据前面的词预测下一个词。生成文本时，模型每次输出一个词，再把它接到输入后面继续预测。
这种方式叫作“自回归”生成。

$$P(w_1, \\ldots, w_n) = \\prod_{t=1}^{n} P(w_t \\mid w_{<t})$$

## 采样策略

贪心解码每次都选概率最高的词，结果往往单调重复。温度、Top-k 和 Top-p 采样可以让生成的文本更加多样。

```python
logits = logits / temperature
probs = torch.softmax(logits, dim=-1)
next_token = torch.multinomial(probs, 1)
```

| 策略 | 特点 |
|---|---|
| 贪心 | 稳定但重复 |
| Top-p | 多样而通顺 |

## 规模

从 GPT-1 到 GPT-3，参数量从一亿增长到一千七百多亿。模型越大，少样本学习的能力就越强。
"""

TOKENIZATION = """# 分词：模型如何读文本

## 为什么需要分词

模型不能直接读文字，只能处理数字。分词器先把文本切成一个个 token，再把每个 token 换成词表里的编号。

## 字节级 BPE

GPT 使用字节级 BPE。它从单个字节开始，反复合并最常见的相邻字节对，直到词表达到预定大小。
一个汉字在 UTF-8 里占三个字节，所以常常被切成几个 token！

```python
tokenizer = AutoTokenizer.from_pretrained("gpt2")
print(tokenizer.tokenize("大模型"))
```

## WordPiece

BERT 使用 WordPiece。英文词表里没有的汉字会变成 [UNK]，模型就看不到这些字的意思了。
词表大小 $|V|$ 决定了嵌入矩阵的行数。

| 方法 | 代表模型 | 未知字符 |
|---|---|---|
| 字节级 BPE | GPT-2 | 没有 |
| WordPiece | BERT | [UNK] |

选择分词方法时，要考虑语言、词表大小和模型的用途。
"""

ARTICLES = {"transformer.md": TRANSFORMER, "attention.md": ATTENTION, "bert.md": BERT, "gpt.md": GPT,
            "tokenization.md": TOKENIZATION}
