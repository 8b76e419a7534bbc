export { ClipTokenizer, TokenizerError, bytesToUnicode, cleanText, START_OF_TEXT, END_OF_TEXT } from './clipTokenizer';
